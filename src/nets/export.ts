/**
 * A network as a tf.layers model of stock layers, built from its spec and holding a copy of its
 * weights: what checkpoints save (model.json + weights.bin) and what `tf.loadLayersModel` reads
 * in Node or a browser with no custom code. A conditional network is a functional model with
 * inputs [x, label]; its metadata (model.json "userDefinedMetadata".gan) says what they mean.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { Network } from './network';
import { outputShape, type LayerSpec, type NetworkSpec } from './spec';

type SymbolicTensor = tfType.SymbolicTensor;

/** What a loader of the exported model needs to know to feed it and read it. */
export interface ExportMetadata {
  network: 'generator' | 'discriminator';
  arch: string;
  conditional: boolean;
  inputs: Array<{ name: string; shape: Array<number | null>; meaning: string }>;
  output: { shape: Array<number | null>; meaning: string };
  /** Generators: the side of the images users see, cut from the centre of the output. */
  imageSize?: number;
}

function stockLayer(tf: Tf, layer: LayerSpec, net: NetworkSpec): tfType.layers.Layer {
  switch (layer.kind) {
    case 'dense':
      return tf.layers.dense({ units: layer.units, activation: layer.activation, name: layer.name });
    case 'conv':
      return tf.layers.conv2d({
        filters: layer.filters,
        kernelSize: layer.kernel,
        strides: layer.stride,
        padding: layer.padding,
        useBias: false,
        name: layer.name,
      });
    case 'convTranspose':
      return tf.layers.conv2dTranspose({
        filters: layer.filters,
        kernelSize: layer.kernel,
        strides: layer.stride,
        padding: layer.padding,
        useBias: false,
        name: layer.name,
      });
    case 'batchNorm':
      // Keras' momentum is the weight of the old average: PyTorch's 0.1 is Keras' 0.9.
      return tf.layers.batchNormalization({
        axis: -1,
        momentum: 1 - net.batchNorm!.momentum,
        epsilon: net.batchNorm!.epsilon,
        name: layer.name,
      });
    case 'activation':
      if (layer.activation === 'leakyrelu') return tf.layers.leakyReLU({ alpha: net.leak, name: layer.name });
      if (layer.activation === 'relu') return tf.layers.reLU({ name: layer.name });
      return tf.layers.activation({ activation: layer.activation, name: layer.name });
    case 'dropout':
      return tf.layers.dropout({ rate: layer.rate, name: layer.name });
    case 'reshape':
      return tf.layers.reshape({ targetShape: layer.shape, name: layer.name });
    case 'flatten':
      return tf.layers.flatten({ name: layer.name });
  }
}

/** The LayersModel of a network with a copy of its weights. The caller disposes it. */
export function toLayersModel(tf: Tf, net: Network, metadata: ExportMetadata): tfType.LayersModel {
  const spec = net.spec;
  let model: tfType.LayersModel;
  if (!spec.label) {
    const seq = tf.sequential({ name: spec.name });
    seq.add(tf.layers.inputLayer({ inputShape: spec.input, name: `${spec.name}_input` }));
    for (const layer of spec.layers) seq.add(stockLayer(tf, layer, spec));
    model = seq;
  } else {
    const l = spec.label;
    const x = tf.input({ shape: spec.input, name: spec.name === 'generator' ? 'z' : 'image' });
    const label = tf.input({ shape: [1], name: 'label' });
    let e = tf.layers.embedding({ inputDim: l.classes, outputDim: l.dim, name: l.layer }).apply(label) as SymbolicTensor; // [B, 1, dim]
    e = tf.layers.reshape({ targetShape: l.shape, name: `${l.layer}_reshape` }).apply(e) as SymbolicTensor;
    let h = tf.layers.concatenate({ axis: -1, name: `${spec.name}_join` }).apply([x, e]) as SymbolicTensor;
    for (const layer of spec.layers) h = stockLayer(tf, layer, spec).apply(h) as SymbolicTensor;
    model = tf.model({ inputs: [x, label], outputs: h, name: spec.name });
  }
  // Weights by layer name, so the functional graph's own weight order does not matter.
  const byLayer = new Map<string, tfType.Tensor[]>();
  net.params.forEach((p, i) => byLayer.set(p.layer, [...(byLayer.get(p.layer) ?? []), net.variables[i]]));
  for (const [layer, values] of byLayer) model.getLayer(layer).setWeights(values);
  // tf.layers takes plain JSON only (no undefined fields).
  model.setUserDefinedMetadata({ gan: JSON.parse(JSON.stringify(metadata)) });
  return model;
}

/** The metadata of a network in a run of the given architecture. */
export function exportMetadata(spec: NetworkSpec, arch: string, imageSize: number): ExportMetadata {
  const conditional = !!spec.label;
  const inputs: ExportMetadata['inputs'] = [
    spec.name === 'generator'
      ? { name: 'z', shape: [null, ...spec.input], meaning: 'noise, standard normal' }
      : { name: 'image', shape: [null, ...spec.input], meaning: 'images in [-1, 1] (background -1)' },
  ];
  if (conditional) inputs.push({ name: 'label', shape: [null, 1], meaning: `the digit, an integer 0-${spec.label!.classes - 1}` });
  const out = outputShape(spec);
  const meaning =
    spec.name === 'generator'
      ? out.length === 1
        ? `images flattened row-major, ${imageSize}x${imageSize}, in [-1, 1] (background -1)`
        : `images ${out.join('x')} in [-1, 1] (background -1); the ${imageSize}x${imageSize} centre is the digit`
      : 'one logit per image: log-odds that it is real';
  return {
    network: spec.name,
    arch,
    conditional,
    inputs,
    output: { shape: [null, ...out], meaning },
    imageSize: spec.name === 'generator' ? imageSize : undefined,
  };
}
