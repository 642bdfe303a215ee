/**
 * What the page needs to know about an exported generator (written by `gan export --web` as
 * gan-model.json beside model/): no imports, shared by the exporter (Node) and the page.
 */

export interface WebModelInfo {
  format: 'gan-web-model';
  version: 1;
  /** The run's folder name, its epoch and step at export. */
  run: string;
  epoch: number;
  step: number;
  arch: string;
  /** Length of the noise vector z (the first input). */
  latentDim: number;
  /** Conditional generators take [z, label], label an integer class 0..numClasses-1. */
  conditional: boolean;
  numClasses: number;
  /**
   * Side of the images a user sees; the generator's output may be larger (the DCGAN's 32x32)
   * and is then centre-cropped to this.
   */
  imageSize: number;
  /** Values per pixel: 1 (gray) or 3 (rgb, channels last). Absent in exports made before colour: 1. */
  channels: number;
  /** A conditional run's class names (its data's class folders; absent: the digits 0-9). */
  classNames?: string[];
  /** The inputs in order, and what they mean. */
  inputs: Array<{ name: string; meaning: string }>;
  /** The model.json's own userDefinedMetadata, if the trainer wrote any. */
  modelMetadata?: Record<string, unknown>;
  tfjsVersion: string;
  exportedAt: string;
}

/** Reads a run's config (and the model's own metadata) into the page's description. */
export function webModelInfo(
  config: {
    arch?: string;
    latentDim: number;
    imageSize: number;
    conditional?: boolean;
    numClasses?: number;
    classes?: number;
    color?: string;
  },
  at: { run: string; epoch: number; step: number; tfjsVersion: string; exportedAt: string },
  modelMetadata?: Record<string, unknown>,
  classNames?: string[],
): WebModelInfo {
  const conditional = config.conditional === true;
  const numClasses = conditional ? (config.numClasses ?? config.classes ?? 10) : 0;
  const named = conditional && classNames !== undefined;
  return {
    format: 'gan-web-model',
    version: 1,
    ...at,
    arch: config.arch ?? 'mlp',
    latentDim: config.latentDim,
    conditional,
    numClasses,
    imageSize: config.imageSize,
    channels: config.color === 'rgb' ? 3 : 1,
    ...(named ? { classNames } : {}),
    inputs: [
      { name: 'z', meaning: `noise, ${config.latentDim} standard-normal floats per image` },
      ...(conditional
        ? [
            {
              name: 'label',
              meaning: named
                ? `the class to draw, an integer 0-${numClasses - 1} (the index in classNames)`
                : `the digit to draw, an integer 0-${numClasses - 1}`,
            },
          ]
        : []),
    ],
    modelMetadata,
  };
}
