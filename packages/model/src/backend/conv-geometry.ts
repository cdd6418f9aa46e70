/**
 * Window geometry shared by the convolution and pooling gradient kernels:
 * where each output position's window starts, its step and its reach.
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Plain numbers describing one 2D NHWC convolution (or pooling) window layout. */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
}

function fromInfo(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    dilationH: info.dilationHeight,
    dilationW: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    padBottom: info.padInfo.bottom,
    padRight: info.padInfo.right,
  };
}

/** Reads the attributes a conv gradient kernel receives; `dilations` may be absent. */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dilations: number | [number, number];
  dimRoundingMode: Rounding;
  dataFormat: 'NHWC' | 'NCHW';
}

/** Normalises kernel attributes, defaulting dilations to 1 and the layout to NHWC. */
export function convAttrs(attrs: tf.NamedAttrMap | undefined): ConvAttrs {
  const a = (attrs ?? {}) as Record<string, unknown>;
  return {
    strides: (a['strides'] ?? 1) as ConvAttrs['strides'],
    pad: (a['pad'] ?? 'valid') as Pad,
    dilations: (a['dilations'] ?? 1) as ConvAttrs['dilations'],
    dimRoundingMode: a['dimRoundingMode'] as Rounding,
    dataFormat: (a['dataFormat'] ?? 'NHWC') as ConvAttrs['dataFormat'],
  };
}

/** Geometry of a regular or depthwise NHWC convolution. */
export function convGeometry(
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
  depthwise = false,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return fromInfo(info);
}

/** Geometry of an NHWC pooling window. */
export function poolGeometry(
  xShape: number[],
  filterSize: number | [number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode: Rounding,
): ConvGeometry {
  const info = tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  return fromInfo(info);
}

/**
 * The output columns `[first, end)` whose window tap at `offset` (kernel index
 * times dilation, minus padding) lands inside an input of width `inSize`.
 */
export function validRange(
  offset: number,
  stride: number,
  inSize: number,
  outSize: number,
): [number, number] {
  const first = Math.max(0, Math.ceil(-offset / stride));
  const end = Math.min(outSize, Math.floor((inSize - 1 - offset) / stride) + 1);
  return [first, Math.max(first, end)];
}
