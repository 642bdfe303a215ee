/**
 * The child process of the step-parity test (test/webgpu-train.test.ts): trains a few steps of
 * each model on one backend, as `gan train` does (stepOnIndices on the dataset on the backend),
 * and prints one line `GAN_STEPS <json>`: per model, the sha256 of the initial weights and every
 * step's stats [d_loss, g_loss, D(x), D(G(z))]. A child because tfjs runs one backend per
 * process, and the test compares two.
 *
 *   node dist/test/webgpu-steps.js BACKEND STEPS BATCH
 */
import * as crypto from 'node:crypto';
import { loadBackend, parseBackendChoice } from '../src/backends';
import { resolveTrainConfig, type TrainConfig } from '../src/config';
import { epochOrder, loadImages } from '../src/data/mnist';
import { openDataset } from '../src/train/dataset';
import { GanTrainer } from '../src/train/trainer';

/** The models the parity test compares: the three families' smallest members. */
export const PARITY_MODELS: Record<string, Partial<TrainConfig>> = {
  mlp: {},
  dcgan: { arch: 'dcgan', channels: 4 },
  conditional: { conditional: true },
};

export interface ParityResult {
  initial: string;
  stats: number[][];
  /** Seconds the model's steps took here (first kernel compilations included). */
  seconds: number;
}

async function main(): Promise<void> {
  const [backendArg, stepsArg, batchArg] = process.argv.slice(2);
  const steps = Number(stepsArg);
  const batchSize = Number(batchArg);
  const { tf } = await loadBackend(parseBackendChoice(backendArg), { threads: 1, webgpuAdapterProbe: false });
  const out: Record<string, ParityResult> = {};
  for (const [name, overrides] of Object.entries(PARITY_MODELS)) {
    const config = resolveTrainConfig({ seed: 7, batchSize, limit: steps * batchSize, ...overrides });
    const images = loadImages({ limit: config.limit, labels: config.conditional });
    const trainer = new GanTrainer(tf, config);
    const dataset = openDataset(tf, images, trainer.model.spec.workSize);
    const hash = crypto.createHash('sha256');
    for (const v of [...trainer.model.generator.variables, ...trainer.model.discriminator.variables]) {
      hash.update(new Uint8Array(((await v.data()) as Float32Array).buffer));
    }
    const order = epochOrder(images.n, config.seed, 1);
    const t0 = performance.now();
    const stats: number[][] = [];
    for (let step = 0; step < steps; step++) {
      const s = trainer.stepOnIndices(dataset, order.subarray(step * batchSize, (step + 1) * batchSize), step);
      stats.push(Array.from(await s.data()));
      s.dispose();
    }
    out[name] = { initial: hash.digest('hex'), stats, seconds: +((performance.now() - t0) / 1000).toFixed(2) };
    trainer.dispose();
    dataset.dispose();
  }
  process.stdout.write(`GAN_STEPS ${JSON.stringify(out)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
}
