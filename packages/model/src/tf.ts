/**
 * The one TensorFlow.js instance every polyhead package uses. Apps import `tf`
 * from here so that kernels, backends and variables are shared, whichever
 * backend package (`tfjs-node`, `tfjs-node-gpu`, wasm) registered itself.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
