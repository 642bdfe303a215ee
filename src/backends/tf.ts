/**
 * The tfjs types every module shares, in a file of types only: kernels and networks take `tf`
 * as a parameter typed here, so none of them imports the module that loads a backend (which
 * imports the kernels: that would be a cycle).
 */
import type * as tfType from '@tensorflow/tfjs';

/** The tfjs namespace, as loadBackend() returns it. */
export type Tf = typeof tfType;

/** A tensor with a name, as tf.io.encodeWeights takes it (tfjs does not export this type). */
export interface NamedTensor {
  name: string;
  tensor: tfType.Tensor;
}
