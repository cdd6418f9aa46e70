// polyhead's own WebAssembly kernels, compiled by AssemblyScript into
// `wasm/kernels.wasm` (private memory-free code over the wasm backend's heap)
// and `wasm/kernels-shared.wasm` (the same over the threaded backend's shared
// heap). They import the TensorFlow.js wasm backend's memory and never
// allocate: every pointer is a byte offset into that heap, handed over by the
// TypeScript side (`src/backend/own-kernels.ts`).

// ---------------------------------------------------------------------------
// Convolution filter gradient
//
//   dw[r, o] += sum over segments s, steps t < segLen of
//               x[xs(s) + delta(r) + t * xStep] * dy[ds(s) + t * outC + o]
//
// `x` is the input laid out so that one kernel tap and input channel (row r of
// the `[kh * kw * inC, outC]` gradient) reads it at a fixed element offset
// `delta(r)` from each output position; a segment is one run of output
// positions (one output row) whose input positions are `xStep` elements apart.
// Positions are taken a block of segments at a time so that the block's `x`
// and `dy` stay in cache while every tile of the gradient passes over them;
// each tile of 4 rows x 8 channels sums in registers.
// ---------------------------------------------------------------------------

@inline
function fma(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

@inline
function segX(segs: usize, s: i32): usize {
  return <usize>load<i32>(segs + (<usize>s << 3)) << 2;
}

@inline
function segDy(segs: usize, s: i32): usize {
  return <usize>load<i32>(segs + (<usize>s << 3), 4) << 2;
}

@inline
function addTo(at: usize, v: v128): void {
  v128.store(at, f32x4.add(v128.load(at), v));
}

function tile4x8(
  x: usize, dy: usize, out: usize, outStride: usize,
  d0: usize, d1: usize, d2: usize, d3: usize,
  segs: usize, s0: i32, s1: i32, segLen: i32, xStep: usize, dyStep: usize,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let s = s0; s < s1; s++) {
    let xp = x + segX(segs, s);
    let dp = dy + segDy(segs, s);
    for (let t = 0; t < segLen; t++) {
      const g0 = v128.load(dp);
      const g1 = v128.load(dp, 16);
      let v = v128.load32_splat(xp + d0);
      a00 = fma(a00, v, g0);
      a01 = fma(a01, v, g1);
      v = v128.load32_splat(xp + d1);
      a10 = fma(a10, v, g0);
      a11 = fma(a11, v, g1);
      v = v128.load32_splat(xp + d2);
      a20 = fma(a20, v, g0);
      a21 = fma(a21, v, g1);
      v = v128.load32_splat(xp + d3);
      a30 = fma(a30, v, g0);
      a31 = fma(a31, v, g1);
      xp += xStep;
      dp += dyStep;
    }
  }
  addTo(out, a00);
  addTo(out + 16, a01);
  addTo(out + outStride, a10);
  addTo(out + outStride + 16, a11);
  addTo(out + 2 * outStride, a20);
  addTo(out + 2 * outStride + 16, a21);
  addTo(out + 3 * outStride, a30);
  addTo(out + 3 * outStride + 16, a31);
}

function tile4x4(
  x: usize, dy: usize, out: usize, outStride: usize,
  d0: usize, d1: usize, d2: usize, d3: usize,
  segs: usize, s0: i32, s1: i32, segLen: i32, xStep: usize, dyStep: usize,
): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let s = s0; s < s1; s++) {
    let xp = x + segX(segs, s);
    let dp = dy + segDy(segs, s);
    for (let t = 0; t < segLen; t++) {
      const g = v128.load(dp);
      a0 = fma(a0, v128.load32_splat(xp + d0), g);
      a1 = fma(a1, v128.load32_splat(xp + d1), g);
      a2 = fma(a2, v128.load32_splat(xp + d2), g);
      a3 = fma(a3, v128.load32_splat(xp + d3), g);
      xp += xStep;
      dp += dyStep;
    }
  }
  addTo(out, a0);
  addTo(out + outStride, a1);
  addTo(out + 2 * outStride, a2);
  addTo(out + 3 * outStride, a3);
}

function tile1x8(
  x: usize, dy: usize, out: usize, d0: usize,
  segs: usize, s0: i32, s1: i32, segLen: i32, xStep: usize, dyStep: usize,
): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  for (let s = s0; s < s1; s++) {
    let xp = x + segX(segs, s) + d0;
    let dp = dy + segDy(segs, s);
    for (let t = 0; t < segLen; t++) {
      const v = v128.load32_splat(xp);
      a0 = fma(a0, v, v128.load(dp));
      a1 = fma(a1, v, v128.load(dp, 16));
      xp += xStep;
      dp += dyStep;
    }
  }
  addTo(out, a0);
  addTo(out + 16, a1);
}

function tile1x4(
  x: usize, dy: usize, out: usize, d0: usize,
  segs: usize, s0: i32, s1: i32, segLen: i32, xStep: usize, dyStep: usize,
): void {
  let a0 = f32x4.splat(0);
  for (let s = s0; s < s1; s++) {
    let xp = x + segX(segs, s) + d0;
    let dp = dy + segDy(segs, s);
    for (let t = 0; t < segLen; t++) {
      a0 = fma(a0, v128.load32_splat(xp), v128.load(dp));
      xp += xStep;
      dp += dyStep;
    }
  }
  addTo(out, a0);
}

function tile1x1(
  x: usize, dy: usize, out: usize, d0: usize,
  segs: usize, s0: i32, s1: i32, segLen: i32, xStep: usize, dyStep: usize,
): void {
  let a: f32 = 0;
  for (let s = s0; s < s1; s++) {
    let xp = x + segX(segs, s) + d0;
    let dp = dy + segDy(segs, s);
    for (let t = 0; t < segLen; t++) {
      a += load<f32>(xp) * load<f32>(dp);
      xp += xStep;
      dp += dyStep;
    }
  }
  store<f32>(out, load<f32>(out) + a);
}

@inline
function delta(deltas: usize, r: i32): usize {
  return <usize>load<i32>(deltas + (<usize>r << 2)) << 2;
}

/**
 * Adds the filter gradient of rows `[rowFirst, rowEnd)` over segments
 * `[0, segCount)` into `dw` (see the section comment). Pointers are byte
 * offsets; `deltas` holds one i32 element offset per row, `segs` an i32 pair
 * (x element offset, dy element offset) per segment. Segments are taken
 * `blockSegs` at a time.
 */
export function convFilterGrad(
  x: usize, dy: usize, dw: usize, deltas: usize, rowFirst: i32, rowEnd: i32, outC: i32,
  segs: usize, segCount: i32, segLen: i32, xStep: i32, blockSegs: i32,
): void {
  const xStepB = <usize>xStep << 2;
  const dyStepB = <usize>outC << 2;
  const wide = outC & ~7;
  const narrow = outC & ~3;
  for (let s0 = 0; s0 < segCount; s0 += blockSegs) {
    const s1 = min(segCount, s0 + blockSegs);
    let r = rowFirst;
    for (; r + 4 <= rowEnd; r += 4) {
      const d0 = delta(deltas, r);
      const d1 = delta(deltas, r + 1);
      const d2 = delta(deltas, r + 2);
      const d3 = delta(deltas, r + 3);
      const out = dw + ((<usize>r * <usize>outC) << 2);
      let o = 0;
      for (; o < wide; o += 8) {
        const ob = <usize>o << 2;
        tile4x8(x, dy + ob, out + ob, dyStepB, d0, d1, d2, d3, segs, s0, s1, segLen, xStepB, dyStepB);
      }
      if (o < narrow) {
        const ob = <usize>o << 2;
        tile4x4(x, dy + ob, out + ob, dyStepB, d0, d1, d2, d3, segs, s0, s1, segLen, xStepB, dyStepB);
        o += 4;
      }
      for (; o < outC; o++) {
        const ob = <usize>o << 2;
        tile1x1(x, dy + ob, out + ob, d0, segs, s0, s1, segLen, xStepB, dyStepB);
        tile1x1(x, dy + ob, out + dyStepB + ob, d1, segs, s0, s1, segLen, xStepB, dyStepB);
        tile1x1(x, dy + ob, out + 2 * dyStepB + ob, d2, segs, s0, s1, segLen, xStepB, dyStepB);
        tile1x1(x, dy + ob, out + 3 * dyStepB + ob, d3, segs, s0, s1, segLen, xStepB, dyStepB);
      }
    }
    for (; r < rowEnd; r++) {
      const d0 = delta(deltas, r);
      const out = dw + ((<usize>r * <usize>outC) << 2);
      let o = 0;
      for (; o < wide; o += 8) {
        const ob = <usize>o << 2;
        tile1x8(x, dy + ob, out + ob, d0, segs, s0, s1, segLen, xStepB, dyStepB);
      }
      if (o < narrow) {
        const ob = <usize>o << 2;
        tile1x4(x, dy + ob, out + ob, d0, segs, s0, s1, segLen, xStepB, dyStepB);
        o += 4;
      }
      for (; o < outC; o++) {
        const ob = <usize>o << 2;
        tile1x1(x, dy + ob, out + ob, d0, segs, s0, s1, segLen, xStepB, dyStepB);
      }
    }
  }
}
