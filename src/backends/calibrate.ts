/**
 * One candidate of `auto`'s calibration, run in a child process (src/backends/probe.ts calibrate):
 * a few training steps of the workload on one backend, each read back before the next (a step
 * is timed to completion on the device), from synthetic images (the timing does not depend on
 * them). Prints the median ms per timed step.
 */
import { loadBackend } from './index';
import { resolveTrainConfig } from '../config';
import { GanTrainer } from '../train/trainer';
import { openDataset } from '../train/dataset';
import { CALIBRATION_STEPS } from './machine';
import type { Workload } from './auto';

export async function calibrateOne(backend: 'webgpu' | 'wasm', w: Workload, threads: number): Promise<number> {
  const { tf } = await loadBackend(backend, { threads, webgpuAdapterProbe: false });
  const config = resolveTrainConfig({
    seed: 0,
    arch: w.arch as 'mlp' | 'dcgan',
    conditional: w.conditional,
    batchSize: w.batchSize,
    ...(w.arch === 'dcgan' ? { channels: w.channels } : { generatorHidden: w.generatorHidden, discriminatorHidden: w.discriminatorHidden }),
  });
  const n = w.batchSize;
  // state size: n x 28 x 28 bytes, a fixed pattern; labels 0-9 for a conditional run.
  const pixels = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 37) % 256);
  const labels = w.conditional ? Uint8Array.from({ length: n }, (_, i) => i % 10) : undefined;
  const trainer = new GanTrainer(tf, config);
  const dataset = openDataset(tf, { pixels, labels, n, rows: 28, cols: 28 }, trainer.model.spec.workSize);
  const indices = Int32Array.from({ length: n }, (_, i) => i);
  const times: number[] = [];
  for (let k = 0; k < CALIBRATION_STEPS.warmup + CALIBRATION_STEPS.timed; k++) {
    const t0 = performance.now();
    const stats = trainer.stepOnIndices(dataset, indices, k);
    await stats.data();
    stats.dispose();
    if (k >= CALIBRATION_STEPS.warmup) times.push(performance.now() - t0);
  }
  trainer.dispose();
  dataset.dispose();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
