/**
 * One description per network. A network is a list of layer specs, read top to bottom; from it
 * alone come the shape after every layer, the parameters (names, shapes, initialisers), the FLOP
 * count, the checkpoint's shape checks, the LayersModel export (src/nets/export.ts) and the
 * forward pass (src/nets/network.ts). Adding an architecture is one file that returns two specs
 * (src/nets/mlp.ts, src/nets/dcgan.ts), not edits across the code base.
 *
 * Layouts follow tfjs: images are NHWC; a conv kernel is [k, k, inC, outC], a transposed conv
 * kernel [k, k, outC, inC]; a dense kernel [in, out]. Parameter names are those tf.layers gives
 * the exported weights ("g_dense_1/kernel"), so checkpoints map onto LayersModel files by name.
 */

export type Activation = 'leakyrelu' | 'relu' | 'tanh' | 'linear';

/** How a parameter starts: the reference implementation's choice for each architecture. */
export type Init =
  | { kind: 'uniform'; bound: number } // PyTorch nn.Linear: U(-1/sqrt(fanIn), 1/sqrt(fanIn))
  | { kind: 'normal'; mean: number; std: number } // DCGAN: N(0, 0.02) convs, N(1, 0.02) BN scale
  | { kind: 'constant'; value: number };

export type LayerSpec =
  /** Dense with bias; `activation` is 'linear' or 'tanh' (others are separate layers, as exported). */
  | { kind: 'dense'; name: string; units: number; activation: 'linear' | 'tanh' }
  /** Convolution without bias; 'same' pads (k - s) / 2 per side, PyTorch's padding 1 for k 4, s 2. */
  | { kind: 'conv'; name: string; filters: number; kernel: number; stride: number; padding: 'same' | 'valid' }
  /** Transposed convolution without bias: 'same' gives H * s (PyTorch k 4, s 2, p 1); 'valid' (H - 1) * s + k. */
  | { kind: 'convTranspose'; name: string; filters: number; kernel: number; stride: number; padding: 'same' | 'valid' }
  /** Batch norm over N, H, W per channel: batch statistics in training, moving averages otherwise. */
  | { kind: 'batchNorm'; name: string }
  | { kind: 'activation'; name: string; activation: Activation }
  /** Inverted dropout; only in training, with masks drawn from the seeded streams. */
  | { kind: 'dropout'; name: string; rate: number }
  | { kind: 'reshape'; name: string; shape: number[] }
  | { kind: 'flatten'; name: string };

export interface NetworkSpec {
  name: 'generator' | 'discriminator';
  /** Shape of the main input without the batch axis: z [100], an image [784] or [32, 32, 1]. */
  input: number[];
  /**
   * Conditional networks: an Embedding(classes, dim) of the label, reshaped to `shape` and
   * joined to the input on its last axis (the input's other axes must match `shape`'s).
   */
  label?: { classes: number; dim: number; shape: number[]; layer: string; init: Init };
  layers: LayerSpec[];
  /** Slope of every LeakyReLU. */
  leak: number;
  /** Batch-norm epsilon and PyTorch-style momentum (the weight of the new batch statistic). */
  batchNorm?: { epsilon: number; momentum: number };
  /** Initialisers of each kind of parameter, by the layer kind that owns it. */
  init: (layer: LayerSpec, param: string, fanIn: number) => Init;
}

export interface ParamSpec {
  /** "<layer>/<weight>", as tf.layers names the exported weight. */
  name: string;
  layer: string;
  shape: number[];
  init: Init;
  /** Batch norm's moving statistics are state, not trained. */
  trainable: boolean;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** The input of the first layer: the main input, with the label embedding joined when conditional. */
export function joinedInputShape(net: NetworkSpec): number[] {
  if (!net.label) return net.input;
  const lead = net.input.slice(0, -1);
  const labelLead = net.label.shape.slice(0, -1);
  if (JSON.stringify(lead) !== JSON.stringify(labelLead) || prod(net.label.shape) !== net.label.dim) {
    throw new Error(
      `${net.name}: label embedding shape ${JSON.stringify(net.label.shape)} does not join input ${JSON.stringify(net.input)}`,
    );
  }
  return [...lead, net.input.at(-1)! + net.label.shape.at(-1)!];
}

/** Output shape (no batch axis) of one layer for an input shape. */
export function layerOutputShape(layer: LayerSpec, inShape: number[]): number[] {
  switch (layer.kind) {
    case 'dense':
      return [layer.units];
    case 'conv': {
      const [h, w] = inShape;
      const out = (n: number) =>
        layer.padding === 'same' ? Math.ceil(n / layer.stride) : Math.floor((n - layer.kernel) / layer.stride) + 1;
      return [out(h), out(w), layer.filters];
    }
    case 'convTranspose': {
      const [h, w] = inShape;
      const out = (n: number) => (layer.padding === 'same' ? n * layer.stride : (n - 1) * layer.stride + layer.kernel);
      return [out(h), out(w), layer.filters];
    }
    case 'reshape':
      if (prod(layer.shape) !== prod(inShape))
        throw new Error(`reshape ${layer.name}: ${JSON.stringify(inShape)} cannot become ${JSON.stringify(layer.shape)}`);
      return layer.shape;
    case 'flatten':
      return [prod(inShape)];
    default:
      return inShape;
  }
}

/** The shape after every layer, starting with the (joined) input: what the shape comments say. */
export function shapes(net: NetworkSpec): number[][] {
  const out = [joinedInputShape(net)];
  for (const layer of net.layers) out.push(layerOutputShape(layer, out[out.length - 1]));
  return out;
}

export function outputShape(net: NetworkSpec): number[] {
  return shapes(net).at(-1)!;
}

/**
 * Every parameter, in the order of initialisation, of the optimizer's slots and of the
 * checkpoint: the label embedding first, then each layer's weights in tf.layers order.
 */
export function paramSpecs(net: NetworkSpec): ParamSpec[] {
  const out: ParamSpec[] = [];
  if (net.label) {
    const l = net.label;
    out.push({ name: `${l.layer}/embeddings`, layer: l.layer, shape: [l.classes, l.dim], init: l.init, trainable: true });
  }
  const s = shapes(net);
  net.layers.forEach((layer, i) => {
    const inShape = s[i];
    const inC = inShape.at(-1)!;
    const add = (param: string, shape: number[], fanIn: number, trainable = true) =>
      out.push({ name: `${layer.name}/${param}`, layer: layer.name, shape, init: net.init(layer, param, fanIn), trainable });
    switch (layer.kind) {
      case 'dense':
        add('kernel', [inC, layer.units], inC);
        add('bias', [layer.units], inC);
        break;
      case 'conv':
        add('kernel', [layer.kernel, layer.kernel, inC, layer.filters], layer.kernel * layer.kernel * inC);
        break;
      case 'convTranspose':
        add('kernel', [layer.kernel, layer.kernel, layer.filters, inC], layer.kernel * layer.kernel * layer.filters);
        break;
      case 'batchNorm':
        add('gamma', [inC], inC);
        add('beta', [inC], inC);
        add('moving_mean', [inC], inC, false);
        add('moving_variance', [inC], inC, false);
        break;
      default:
        break;
    }
  });
  return out;
}

export function parameterCount(net: NetworkSpec): number {
  return paramSpecs(net)
    .filter((p) => p.trainable)
    .reduce((n, p) => n + prod(p.shape), 0);
}

/** Floating-point operations (2 per multiply-add) of one forward pass of one sample. */
export function forwardFlops(net: NetworkSpec): number {
  const s = shapes(net);
  let flops = 0;
  net.layers.forEach((layer, i) => {
    const inShape = s[i];
    const outShape = s[i + 1];
    if (layer.kind === 'dense') flops += 2 * inShape.at(-1)! * layer.units;
    // Every output position sums k*k*inC products per output channel.
    if (layer.kind === 'conv') flops += 2 * outShape[0] * outShape[1] * layer.kernel * layer.kernel * inShape[2] * layer.filters;
    // Every input position scatters k*k*outC products per input channel.
    if (layer.kind === 'convTranspose') flops += 2 * inShape[0] * inShape[1] * layer.kernel * layer.kernel * inShape[2] * layer.filters;
  });
  return flops;
}

/**
 * FLOPs of one training iteration per real image: the D step runs G forward and D forward and
 * backward on a real and a fake batch (backward ~2x forward); the G step runs G forward and
 * backward and D forward and its input-gradient pass. 4 G + 8 D forwards in all.
 */
export function iterationFlops(generator: NetworkSpec, discriminator: NetworkSpec, batch: number): number {
  return batch * (4 * forwardFlops(generator) + 8 * forwardFlops(discriminator));
}

/**
 * The dense-only view of a network, for the hand-written backward pass (src/train/backprop.ts):
 * the dense layers with the activation that follows each (folded in) and the dropout rate
 * after it. Undefined when the network has any other kind of layer.
 */
export interface DenseView {
  layers: Array<{ name: string; activation: Activation; dropout: number }>;
}

export function denseView(net: NetworkSpec): DenseView | undefined {
  const layers: DenseView['layers'] = [];
  for (const layer of net.layers) {
    if (layer.kind === 'dense') layers.push({ name: layer.name, activation: layer.activation, dropout: 0 });
    else if (layer.kind === 'activation' && layers.length && layers.at(-1)!.activation === 'linear')
      layers.at(-1)!.activation = layer.activation;
    else if (layer.kind === 'dropout' && layers.length) layers.at(-1)!.dropout = layer.rate;
    else return undefined;
  }
  return { layers };
}
