/**
 * A network's parameters as tfjs variables, made from its spec, and its forward pass.
 *
 * The forward pass here is the general one, built from tf ops: tfjs autodiff
 * (tf.variableGrads) differentiates it for convolutional networks, and it is the inference pass
 * of every network. Dense-only networks train through the hand-written backward pass instead
 * (src/train/backprop.ts), over the same variables (denseStack()).
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import { batchNormTakesActivation, batchNormTraining } from '../backends/native/batchnorm';
import { MOVING_STATS_KERNEL, type MovingStatsAttrs } from '../backends/webgpu/moving-stats';
import { Rng } from '../core/rng';
import { denseView, paramSpecs, type Activation, type Init, type NetworkSpec, type ParamSpec } from './spec';
import { Constants } from './constants';

type Tensor = tfType.Tensor;
type Variable = tfType.Variable;

/** A dense layer's variables, for the hand-written backward pass. */
export interface DenseParams {
  /** [fanIn, fanOut] */
  kernel: Variable;
  /** [fanOut] */
  bias: Variable;
}

/** A stack of dense layers: the view of a dense-only network that src/train/backprop.ts trains. */
export class DenseStack {
  constructor(
    readonly layers: DenseParams[],
    readonly activations: Activation[],
    readonly dropout: number[],
  ) {}

  /** kernel, bias, kernel, bias, ...: the order of LayersModel weights and of optimizer slots. */
  variables(): Variable[] {
    return this.layers.flatMap((l) => [l.kernel, l.bias]);
  }
}

/** What a training-mode forward pass needs and gives back beside its output. */
export interface TrainingPass {
  /** One inverted-dropout mask per dropout layer, in order (absent: no dropout). */
  dropoutMasks?: Tensor[];
  /** Filled with each batch-norm layer's batch statistics, for the moving-average update. */
  batchStats: Array<{ layer: string; mean: tfType.Tensor1D; variance: tfType.Tensor1D; count: number }>;
}

function initialValues(init: Init, size: number, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  if (init.kind === 'uniform') return rng.fillUniform(out, -init.bound, init.bound);
  if (init.kind === 'constant') return out.fill(init.value);
  rng.fillNormal(out);
  for (let i = 0; i < size; i++) out[i] = init.mean + init.std * out[i];
  return out;
}

let instanceCounter = 0;

export class Network {
  readonly params: ParamSpec[];
  private readonly byName: Map<string, Variable>;
  /** Batch norm's scalars (momentum factors, epsilon, element counts), made once (src/nets/constants.ts). */
  private readonly constants: Constants;

  constructor(
    readonly tf: Tf,
    readonly spec: NetworkSpec,
    /** One variable per paramSpecs(spec) entry, in that order. */
    readonly variables: Variable[],
  ) {
    this.params = paramSpecs(spec);
    if (variables.length !== this.params.length)
      throw new Error(`${spec.name}: ${variables.length} variables for ${this.params.length} parameters`);
    this.byName = new Map(this.params.map((p, i) => [p.name, variables[i]]));
    this.constants = new Constants(tf);
  }

  /** Fresh parameters drawn in order from `rng`: the same draws give the same network everywhere. */
  static create(tf: Tf, spec: NetworkSpec, rng: Rng): Network {
    // Variable names must be unique per process (tests build many models).
    const id = ++instanceCounter;
    const vars = paramSpecs(spec).map((p) => {
      const values = initialValues(
        p.init,
        p.shape.reduce((a, b) => a * b, 1),
        rng,
      );
      // tidy disposes the initial tensor; the variable keeps its own buffer.
      return tf.tidy(() => tf.variable(tf.tensor(values, p.shape), p.trainable, `${spec.name}${id}/${p.name}`));
    });
    return new Network(tf, spec, vars);
  }

  /** A network holding copies of given values, in paramSpecs order (from a checkpoint). */
  static fromValues(tf: Tf, spec: NetworkSpec, values: Tensor[], trainable = false): Network {
    const id = ++instanceCounter;
    const specs = paramSpecs(spec);
    return new Network(
      tf,
      spec,
      values.map((v, i) => tf.variable(v, trainable && specs[i].trainable, `${spec.name}${id}/${specs[i].name}`)),
    );
  }

  get(name: string): Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`${this.spec.name} has no parameter ${name}`);
    return v;
  }

  /** What the optimizer updates, in paramSpecs order. */
  trainable(): Variable[] {
    return this.variables.filter((_, i) => this.params[i].trainable);
  }

  /** The dense-only view for the hand-written backward pass, or undefined for other networks. */
  denseStack(): DenseStack | undefined {
    const view = denseView(this.spec);
    if (!view) return undefined;
    return new DenseStack(
      view.layers.map((l) => ({ kernel: this.get(`${l.name}/kernel`), bias: this.get(`${l.name}/bias`) })),
      view.layers.map((l) => l.activation),
      view.layers.map((l) => l.dropout),
    );
  }

  /** The label's embedding rows [B, ...shape] joined to x [B, ...input] on the last axis. */
  joinLabel(x: Tensor, labels: tfType.Tensor1D | undefined): Tensor {
    const tf = this.tf;
    const l = this.spec.label;
    if (!l) return x;
    if (!labels) throw new Error(`${this.spec.name} is conditional: labels are required`);
    // The lookup as onehot(labels) [B, 10] x E [10, dim]: exact (one 1 per row), and its
    // gradient is a matmul, where tf.gather's needs UnsortedSegmentSum (no wasm kernel).
    const rows = tf.matMul(
      tf.oneHot(labels, l.classes).toFloat() as tfType.Tensor2D,
      this.get(`${l.layer}/embeddings`) as Tensor as tfType.Tensor2D,
    );
    const e = tf.reshape(rows, [x.shape[0], ...l.shape]);
    return tf.concat([x, e], -1);
  }

  /**
   * x [B, ...] -> the network's output [B, ...]. Without `training`: inference (no dropout,
   * batch norm from moving averages). With it: dropout masks as given, batch statistics.
   * `stopAfter`: return the output of that layer (by index) instead (feature matching's features).
   */
  forward(x: Tensor, labels?: tfType.Tensor1D, training?: TrainingPass, stopAfter?: number): Tensor {
    const tf = this.tf;
    const spec = this.spec;
    const b = x.shape[0];
    let h = this.joinLabel(tf.reshape(x, [b, ...spec.input]), labels);
    let dropoutIndex = 0;
    // Where the backend's batch-norm kernel applies the (Leaky)ReLU after it, that layer is skipped.
    const fuseActivation = !!training && batchNormTakesActivation(tf);
    let activationDone = false;
    for (const [index, layer] of spec.layers.entries()) {
      if (stopAfter !== undefined && index > stopAfter) break;
      if (activationDone) {
        activationDone = false;
        continue;
      }
      switch (layer.kind) {
        case 'dense': {
          const y = tf.fused.matMul({
            a: h as tfType.Tensor2D,
            b: this.get(`${layer.name}/kernel`) as Tensor as tfType.Tensor2D,
            bias: this.get(`${layer.name}/bias`),
          });
          h = layer.activation === 'tanh' ? tf.tanh(y) : y;
          break;
        }
        case 'conv':
          h = tf.conv2d(h as tfType.Tensor4D, this.get(`${layer.name}/kernel`) as Tensor as tfType.Tensor4D, layer.stride, layer.padding);
          break;
        case 'convTranspose': {
          const [, hh, ww] = h.shape;
          const out =
            layer.padding === 'same'
              ? [hh * layer.stride, ww * layer.stride]
              : [(hh - 1) * layer.stride + layer.kernel, (ww - 1) * layer.stride + layer.kernel];
          h = tf.conv2dTranspose(
            h as tfType.Tensor4D,
            this.get(`${layer.name}/kernel`) as Tensor as tfType.Tensor4D,
            [b, out[0], out[1], layer.filters],
            layer.stride,
            layer.padding,
          );
          break;
        }
        case 'batchNorm': {
          const eps = spec.batchNorm!.epsilon;
          const gamma = this.get(`${layer.name}/gamma`) as Tensor as tfType.Tensor1D;
          const beta = this.get(`${layer.name}/beta`) as Tensor as tfType.Tensor1D;
          if (training) {
            const next = spec.layers[index + 1];
            const leak =
              next?.kind === 'activation' && (stopAfter === undefined || index + 1 <= stopAfter)
                ? leakOf(next.activation, spec.leak)
                : undefined;
            activationDone = fuseActivation && leak !== undefined;
            const r = batchNormTraining(
              tf,
              h as tfType.Tensor4D,
              gamma,
              beta,
              eps,
              (v) => this.constants.scalar(v),
              activationDone ? leak : undefined,
            );
            training.batchStats.push({ layer: layer.name, mean: r.mean, variance: r.variance, count: h.size / h.shape[h.rank - 1] });
            h = r.y;
          } else {
            h = tf.batchNorm(h, this.get(`${layer.name}/moving_mean`), this.get(`${layer.name}/moving_variance`), beta, gamma, eps);
          }
          break;
        }
        case 'activation':
          h = activate(tf, h, layer.activation, spec.leak);
          break;
        case 'dropout': {
          const mask = training?.dropoutMasks?.[dropoutIndex++];
          if (mask) h = tf.mul(h, mask);
          break;
        }
        case 'reshape':
          h = tf.reshape(h, [b, ...layer.shape]);
          break;
        case 'flatten':
          h = tf.reshape(h, [b, -1]);
          break;
      }
    }
    return h;
  }

  /**
   * Moves each batch-norm layer's moving averages towards a training pass's batch statistics,
   * as PyTorch does: new = (1 - momentum) * old + momentum * batch, with the unbiased variance.
   */
  updateMovingStats(stats: TrainingPass['batchStats']): void {
    const tf = this.tf;
    const m = this.spec.batchNorm?.momentum ?? 0;
    // One kernel per layer where the backend has it (webgpu), else the tf ops.
    const fusedMovingStats = tf.getKernel(MOVING_STATS_KERNEL, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      for (const s of stats) {
        const mean = this.get(`${s.layer}/moving_mean`);
        const variance = this.get(`${s.layer}/moving_variance`);
        const c = this.constants;
        const varianceFactor = (m * s.count) / Math.max(1, s.count - 1);
        if (fusedMovingStats) {
          const attrs: MovingStatsAttrs = { keep: 1 - m, momentum: m, varianceFactor };
          const inputs = { movingMean: mean, movingVariance: variance, mean: s.mean, variance: s.variance };
          const [newMean, newVariance] = tf
            .engine()
            .runKernel(MOVING_STATS_KERNEL, inputs, attrs as unknown as tfType.NamedAttrMap) as Tensor[];
          mean.assign(newMean);
          variance.assign(newVariance);
          continue;
        }
        mean.assign(tf.add(tf.mul(mean, c.scalar(1 - m)), tf.mul(s.mean, c.scalar(m))));
        variance.assign(tf.add(tf.mul(variance, c.scalar(1 - m)), tf.mul(s.variance, c.scalar(varianceFactor))));
      }
    });
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.constants.dispose();
  }
}

/** The leak of a ReLU (0) or LeakyReLU; undefined for other activations. */
function leakOf(activation: Activation, leak: number): number | undefined {
  return activation === 'leakyrelu' ? leak : activation === 'relu' ? 0 : undefined;
}

export function activate(tf: Tf, h: Tensor, activation: Activation, leak: number): Tensor {
  if (activation === 'leakyrelu') return tf.leakyRelu(h, leak);
  if (activation === 'relu') return tf.relu(h);
  if (activation === 'tanh') return tf.tanh(h);
  return h;
}
