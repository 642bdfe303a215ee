/**
 * Adam, as PyTorch computes it (bias corrections folded into the step size and the
 * denominator), with state we can save and restore exactly. tfjs's own AdamOptimizer keys its
 * state by variable names, which differ between processes, so a resumed run could not find it.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import { nativeAdamUpdate, type AdamUpdate } from '../backends/native/addon';
import { webGpuAdamUpdate, type WebGpuAdamUpdate } from '../backends/webgpu/adam';

export interface AdamSettings {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export class Adam {
  /** First and second moments, one pair per variable, in variable order. */
  readonly m: tfType.Variable[];
  readonly v: tfType.Variable[];
  /** Updates applied so far (PyTorch's `step`). */
  t = 0;
  /** One native pass per variable where the backend offers it (wasm + the addon); else tfjs ops. */
  private readonly fused: AdamUpdate | undefined;
  /** On webgpu: one WGSL dispatch per variable, all of them in one call. */
  private readonly fusedGpu: WebGpuAdamUpdate | undefined;
  private readonly constants: {
    beta1: tfType.Scalar;
    oneMinusBeta1: tfType.Scalar;
    beta2: tfType.Scalar;
    oneMinusBeta2: tfType.Scalar;
    epsilon: tfType.Scalar;
  };

  constructor(
    private readonly tf: Tf,
    readonly variables: tfType.Variable[],
    readonly settings: AdamSettings,
  ) {
    // tidy disposes the zeros; each variable keeps its own buffer alive.
    this.m = tf.tidy(() => variables.map((x) => tf.variable(tf.zerosLike(x), false)));
    this.v = tf.tidy(() => variables.map((x) => tf.variable(tf.zerosLike(x), false)));
    this.fused = nativeAdamUpdate(tf);
    this.fusedGpu = webGpuAdamUpdate(tf);
    this.constants = tf.tidy(() => ({
      beta1: tf.keep(tf.scalar(settings.beta1)),
      oneMinusBeta1: tf.keep(tf.scalar(1 - settings.beta1)),
      beta2: tf.keep(tf.scalar(settings.beta2)),
      oneMinusBeta2: tf.keep(tf.scalar(1 - settings.beta2)),
      epsilon: tf.keep(tf.scalar(settings.epsilon)),
    }));
  }

  /** One update from gradients given in variable order. */
  apply(grads: tfType.Tensor[]): void {
    const tf = this.tf;
    const c = this.constants;
    this.t += 1;
    const bias1 = 1 - Math.pow(this.settings.beta1, this.t);
    const bias2 = 1 - Math.pow(this.settings.beta2, this.t);
    if (this.fused || this.fusedGpu) {
      const { beta1, beta2, lr, epsilon } = this.settings;
      const scalars = { beta1, beta2, stepSize: lr / bias1, invSqrtBias2: 1 / Math.sqrt(bias2), epsilon };
      if (this.fusedGpu) return this.fusedGpu(this.variables, this.m, this.v, grads, scalars);
      for (let i = 0; i < this.variables.length; i++) this.fused!(this.variables[i], this.m[i], this.v[i], grads[i], scalars);
      return;
    }
    tf.tidy(() => {
      const stepSize = tf.scalar(this.settings.lr / bias1);
      const invSqrtBias2 = tf.scalar(1 / Math.sqrt(bias2));
      for (let i = 0; i < this.variables.length; i++) {
        const g = grads[i];
        const m = tf.add(tf.mul(this.m[i], c.beta1), tf.mul(g, c.oneMinusBeta1));
        const v = tf.add(tf.mul(this.v[i], c.beta2), tf.mul(tf.square(g), c.oneMinusBeta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const denom = tf.add(tf.mul(tf.sqrt(v), invSqrtBias2), c.epsilon);
        this.variables[i].assign(tf.sub(this.variables[i], tf.mul(stepSize, tf.div(m, denom))));
      }
    });
  }

  /** The tensors to save, m's then v's; `t` goes alongside. */
  stateTensors(): tfType.Tensor[] {
    return [...this.m, ...this.v];
  }

  /** Restores state saved by stateTensors() and t. Shapes must match (checked by the caller). */
  restore(t: number, tensors: tfType.Tensor[]): void {
    const n = this.variables.length;
    if (tensors.length !== 2 * n) throw new Error(`Adam.restore: ${tensors.length} tensors for ${n} variables`);
    for (let i = 0; i < n; i++) {
      this.m[i].assign(tensors[i]);
      this.v[i].assign(tensors[n + i]);
    }
    this.t = t;
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
    for (const s of Object.values(this.constants)) s.dispose();
  }
}
