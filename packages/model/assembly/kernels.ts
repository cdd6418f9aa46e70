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
 * Writes the filter gradient of rows `[rowFirst, rowEnd)` over segments
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
  // Zeroed here, so that running the same call again gives the same rows.
  memory.fill(dw + (<usize>rowFirst * dyStepB), 0, <usize>(rowEnd - rowFirst) * dyStepB);
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

// ---------------------------------------------------------------------------
// Max-pooling gradient
//
// Each output gradient goes to the first maximum of its window, taps scanned
// row by row as the cpu backend does, so that ties (frequent after a ReLU)
// resolve identically. Images `[first, end)` of the NHWC tensors are handled,
// so two threads can take disjoint halves of a batch.
// ---------------------------------------------------------------------------

/**
 * The common 2x2, stride-2 window without padding: every input element
 * belongs to at most one window, so `dx` is written rather than accumulated,
 * four channels at a time.
 */
function pool2x2(
  x: usize, dy: usize, dx: usize, first: i32, end: i32,
  inH: i32, inW: i32, c: i32, outH: i32, outW: i32,
): void {
  const right = <usize>c << 2;
  const down = (<usize>inW * <usize>c) << 2;
  const lanes = c & ~3;
  for (let b = first; b < end; b++) {
    for (let oh = 0; oh < outH; oh++) {
      let t = ((<usize>(b * inH + 2 * oh) * <usize>inW) * <usize>c) << 2;
      let o = ((<usize>(b * outH + oh) * <usize>outW) * <usize>c) << 2;
      for (let ow = 0; ow < outW; ow++) {
        let k: i32 = 0;
        for (; k < lanes; k += 4) {
          const at = t + (<usize>k << 2);
          const v0 = v128.load(x + at);
          const v1 = v128.load(x + at + right);
          const v2 = v128.load(x + at + down);
          const v3 = v128.load(x + at + down + right);
          const s1 = f32x4.gt(v1, v0);
          let best = v128.bitselect(v1, v0, s1);
          const s2 = f32x4.gt(v2, best);
          best = v128.bitselect(v2, best, s2);
          const s3 = f32x4.gt(v3, best);
          const g = v128.load(dy + o + (<usize>k << 2));
          const later3 = s3;
          const later2 = v128.or(s2, later3);
          const later1 = v128.or(s1, later2);
          v128.store(dx + at, v128.andnot(g, later1));
          v128.store(dx + at + right, v128.andnot(v128.and(g, s1), later2));
          v128.store(dx + at + down, v128.andnot(v128.and(g, s2), later3));
          v128.store(dx + at + down + right, v128.and(g, s3));
        }
        for (; k < c; k++) {
          const at = t + (<usize>k << 2);
          let where = at;
          let best = load<f32>(x + at);
          store<f32>(dx + at, 0);
          store<f32>(dx + at + right, 0);
          store<f32>(dx + at + down, 0);
          store<f32>(dx + at + down + right, 0);
          if (load<f32>(x + at + right) > best) {
            best = load<f32>(x + at + right);
            where = at + right;
          }
          if (load<f32>(x + at + down) > best) {
            best = load<f32>(x + at + down);
            where = at + down;
          }
          if (load<f32>(x + at + down + right) > best) where = at + down + right;
          store<f32>(dx + where, load<f32>(dy + o + (<usize>k << 2)));
        }
        t += 2 * right;
        o += right;
      }
    }
  }
}

/**
 * Max-pooling gradient of images `[first, end)`: zeroes their `dx`, then adds
 * each output gradient at its window's first maximum (windows may overlap;
 * taps outside the input are skipped, a window without a finite maximum
 * passes nothing).
 */
export function maxPoolGrad(
  x: usize, dy: usize, dx: usize, first: i32, end: i32,
  inH: i32, inW: i32, c: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, strideH: i32, strideW: i32, dilationH: i32, dilationW: i32,
  padTop: i32, padLeft: i32,
): void {
  const image = (<usize>inH * <usize>inW * <usize>c) << 2;
  const plain =
    kh == 2 && kw == 2 && strideH == 2 && strideW == 2 && padTop == 0 && padLeft == 0 &&
    2 * outH <= inH && 2 * outW <= inW;
  // Rows and columns past the last window (odd sizes) get no gradient.
  if (!plain || 2 * outH != inH || 2 * outW != inW) {
    memory.fill(dx + <usize>first * image, 0, <usize>(end - first) * image);
  }
  if (plain) {
    pool2x2(x, dy, dx, first, end, inH, inW, c, outH, outW);
    return;
  }
  for (let b = first; b < end; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padTop;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padLeft;
        const o = ((<usize>((b * outH + oh) * outW + ow)) * <usize>c) << 2;
        for (let k = 0; k < c; k++) {
          let best = -Infinity;
          let where: isize = -1;
          for (let i = 0; i < kh; i++) {
            const ih = h0 + i * dilationH;
            if (ih < 0 || ih >= inH) continue;
            for (let j = 0; j < kw; j++) {
              const iw = w0 + j * dilationW;
              if (iw < 0 || iw >= inW) continue;
              const at = <isize>((((b * inH + ih) * inW + iw) * c + k) << 2);
              const v = load<f32>(x + at);
              if (v > best) {
                best = v;
                where = at;
              }
            }
          }
          if (where >= 0) {
            const to = dx + <usize>where;
            store<f32>(to, load<f32>(to) + load<f32>(dy + o + (<usize>k << 2)));
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Batch normalisation in training mode
//
// Tensors are viewed as `[rows, c]` (every axis but the channels folded into
// rows); each function handles rows `[first, end)`, so two threads can take
// halves. Sums come out in f64 (`out[0, c)` and `out[c, 2c)`), summed per
// block of rows in f32 registers first.
// ---------------------------------------------------------------------------

const SUM_BLOCK: i32 = 128;

/** Per channel, sums of `x - shift` and of its square over rows `[first, end)`. */
export function bnMoments(x: usize, shift: usize, c: i32, first: i32, end: i32, out: usize): void {
  const row = <usize>c << 2;
  const lanes = c & ~3;
  memory.fill(out, 0, <usize>c << 4);
  for (let r0 = first; r0 < end; r0 += SUM_BLOCK) {
    const r1 = min(end, r0 + SUM_BLOCK);
    for (let k = 0; k < lanes; k += 4) {
      const kb = <usize>k << 2;
      const s = v128.load(shift + kb);
      let sum = f32x4.splat(0);
      let sq = f32x4.splat(0);
      let p = x + <usize>r0 * row + kb;
      for (let r = r0; r < r1; r++) {
        const d = f32x4.sub(v128.load(p), s);
        sum = f32x4.add(sum, d);
        sq = f32x4.add(sq, f32x4.mul(d, d));
        p += row;
      }
      addLanes(out + (<usize>k << 3), sum);
      addLanes(out + (<usize>(c + k) << 3), sq);
    }
    for (let k = lanes; k < c; k++) {
      const s = load<f32>(shift + (<usize>k << 2));
      let sum: f32 = 0;
      let sq: f32 = 0;
      let p = x + <usize>r0 * row + (<usize>k << 2);
      for (let r = r0; r < r1; r++) {
        const d = load<f32>(p) - s;
        sum += d;
        sq += d * d;
        p += row;
      }
      addF64(out + (<usize>k << 3), sum);
      addF64(out + (<usize>(c + k) << 3), sq);
    }
  }
}

/** Per channel, sums of `dy` and of `dy * (x - mean)` over rows `[first, end)`. */
export function bnGradSums(
  dy: usize, x: usize, mean: usize, c: i32, first: i32, end: i32, out: usize,
): void {
  const row = <usize>c << 2;
  const lanes = c & ~3;
  memory.fill(out, 0, <usize>c << 4);
  for (let r0 = first; r0 < end; r0 += SUM_BLOCK) {
    const r1 = min(end, r0 + SUM_BLOCK);
    for (let k = 0; k < lanes; k += 4) {
      const kb = <usize>k << 2;
      const m = v128.load(mean + kb);
      let sum = f32x4.splat(0);
      let dot = f32x4.splat(0);
      const at = <usize>r0 * row + kb;
      let p = x + at;
      let q = dy + at;
      for (let r = r0; r < r1; r++) {
        const g = v128.load(q);
        sum = f32x4.add(sum, g);
        dot = f32x4.add(dot, f32x4.mul(g, f32x4.sub(v128.load(p), m)));
        p += row;
        q += row;
      }
      addLanes(out + (<usize>k << 3), sum);
      addLanes(out + (<usize>(c + k) << 3), dot);
    }
    for (let k = lanes; k < c; k++) {
      const m = load<f32>(mean + (<usize>k << 2));
      let sum: f32 = 0;
      let dot: f32 = 0;
      const at = <usize>r0 * row + (<usize>k << 2);
      let p = x + at;
      let q = dy + at;
      for (let r = r0; r < r1; r++) {
        const g = load<f32>(q);
        sum += g;
        dot += g * (load<f32>(p) - m);
        p += row;
        q += row;
      }
      addF64(out + (<usize>k << 3), sum);
      addF64(out + (<usize>(c + k) << 3), dot);
    }
  }
}

@inline
function addF64(at: usize, v: f32): void {
  store<f64>(at, load<f64>(at) + <f64>v);
}

@inline
function addLanes(at: usize, v: v128): void {
  addF64(at, f32x4.extract_lane(v, 0));
  addF64(at + 8, f32x4.extract_lane(v, 1));
  addF64(at + 16, f32x4.extract_lane(v, 2));
  addF64(at + 24, f32x4.extract_lane(v, 3));
}

/**
 * `y = p * a + q * b + e` per channel over rows `[first, end)`; with `q`
 * zero (no second input) `y = p * a + e`. `a`, `b`, `e` hold `c` floats.
 */
export function channelAffine(
  p: usize, q: usize, a: usize, b: usize, e: usize, y: usize, c: i32, first: i32, end: i32,
): void {
  const row = <usize>c << 2;
  const lanes = c & ~3;
  for (let r = first; r < end; r++) {
    const at = <usize>r * row;
    let k = 0;
    if (q == 0) {
      for (; k < lanes; k += 4) {
        const kb = <usize>k << 2;
        const v = f32x4.add(f32x4.mul(v128.load(p + at + kb), v128.load(a + kb)), v128.load(e + kb));
        v128.store(y + at + kb, v);
      }
      for (; k < c; k++) {
        const kb = <usize>k << 2;
        store<f32>(y + at + kb, load<f32>(p + at + kb) * load<f32>(a + kb) + load<f32>(e + kb));
      }
    } else {
      for (; k < lanes; k += 4) {
        const kb = <usize>k << 2;
        const u = f32x4.mul(v128.load(p + at + kb), v128.load(a + kb));
        const w = f32x4.mul(v128.load(q + at + kb), v128.load(b + kb));
        v128.store(y + at + kb, f32x4.add(f32x4.add(u, w), v128.load(e + kb)));
      }
      for (; k < c; k++) {
        const kb = <usize>k << 2;
        const v = load<f32>(p + at + kb) * load<f32>(a + kb) + load<f32>(q + at + kb) * load<f32>(b + kb);
        store<f32>(y + at + kb, v + load<f32>(e + kb));
      }
    }
  }
}
