/**
 * The model family: each architecture is one entry that turns a config into two network specs.
 * Everything else (initialisation, training, inference, export, checkpoint checks, FLOPs) is
 * derived from the specs.
 */
import type { Arch, ModelConfig } from '../config/settings';
import { dcganDiscriminator, dcganGenerator } from './dcgan';
import { mlpDiscriminator, mlpGenerator } from './mlp';
import { outputShape, type NetworkSpec } from './spec';
import { imageChannels } from './image-shape';

export interface GanSpec {
  generator: NetworkSpec;
  discriminator: NetworkSpec;
  /** Side of the square images the networks work on (the DCGAN pads 28 to 32). */
  workSize: number;
  /** Side of the images users see: the data's size, cut from the centre of workSize. */
  imageSize: number;
  /** Channels of every image: 1 (gray) or 3 (rgb), last in each pixel. */
  imageChannels: number;
}

const FAMILY: Record<Arch, { generator: (m: ModelConfig) => NetworkSpec; discriminator: (m: ModelConfig) => NetworkSpec }> = {
  mlp: { generator: mlpGenerator, discriminator: mlpDiscriminator },
  dcgan: { generator: dcganGenerator, discriminator: dcganDiscriminator },
};

export function ganSpec(m: ModelConfig): GanSpec {
  const entry = FAMILY[m.arch];
  if (!entry) throw new Error(`unknown architecture '${m.arch}'`);
  const generator = entry.generator(m);
  const discriminator = entry.discriminator(m);
  const out = outputShape(generator);
  const channels = imageChannels(m);
  // [784] for the MLP, [32, 32, 1] for the DCGAN (x 3 for rgb).
  const workSize = out.length === 1 ? Math.round(Math.sqrt(out[0] / channels)) : out[0];
  return { generator, discriminator, workSize, imageSize: m.imageSize, imageChannels: channels };
}

export { type NetworkSpec } from './spec';
