/**
 * The webgpu tier: training on the webgpu backend gives the numbers wasm gives (to float32
 * rounding), resumes exactly, and `gan train` / `gan sample` write the files they write on wasm.
 * Where there is no GPU the tests run on SwiftShader (test/helpers.ts, webGpuForTests), and skip
 * with one line where there is neither. SwiftShader is slow (an MLP step of the default widths
 * takes ~4 s on two cores, a --channels 4 DCGAN step ~0.5 s), so every run here is a few steps
 * at a small batch: the whole file takes about a minute and a half.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { childJson, testTf, tmpDir, webGpuForTests } from './helpers';
import { classifierDir, saveClassifier, trainClassifier } from '../src/eval/classifier';
import type { ParityResult } from './webgpu-steps';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const STEPS_SCRIPT = path.join(__dirname, 'webgpu-steps.js');

function gan(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** webgpu-steps.js on one backend, in a child: its per-model results. */
function steps(backend: string, count: number, batch: number): Promise<Record<string, ParityResult>> {
  return childJson(STEPS_SCRIPT, [backend, String(count), String(batch)], 'GAN_STEPS');
}

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Every file under dir, relative, sorted; the event file's name (time, host, pid) as a pattern. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .map((f) => f.replace(/^events\.out\.tfevents\..*/, 'events.out.tfevents.*'))
    .sort();
}

/** state.json without what differs from run to run (times, the save date, its checksum over them). */
function stateWithoutTimes(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'), (key, value) => (['seconds', 'savedAt', 'checksum'].includes(key) ? undefined : value));
}

function pngGray(file: string): { width: number; height: number; gray: Uint8Array } {
  const png = PNG.sync.read(fs.readFileSync(file));
  return { width: png.width, height: png.height, gray: Uint8Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]) };
}

test(
  'webgpu step parity: 2 steps of the MLP, the DCGAN (--channels 4) and the conditional MLP match wasm from the same initial weights',
  { timeout: 300_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const [wasm, webgpu] = await Promise.all([steps('wasm', 2, 4), steps('webgpu', 2, 4)]);
    t.diagnostic(
      `on ${gpu.adapter}: ${Object.entries(webgpu)
        .map(([m, r]) => `${m} ${r.seconds} s`)
        .join(', ')} for 2 steps at batch 4`,
    );
    let largest = 0;
    for (const [model, want] of Object.entries(wasm)) {
      const got = webgpu[model];
      // Identical initial weights: drawn on the CPU from the seed, uploaded as they are.
      assert.equal(got.initial, want.initial, `${model}: initial weights`);
      // Every input of a step (noise, labels, dropout masks, the batch) is drawn on the CPU, so the
      // backends differ only in float32 rounding: sums of up to 1024 products in another order
      // (GPU tiles against wasm's or the native GEMM's), about sqrt(1024) * 6e-8 ~ 2e-6 relative
      // per layer; measured on SwiftShader, 2e-6 after 3 steps. Adam's first steps move a weight
      // by lr = 2e-4 whatever the gradient's size, so a wrong kernel (a wrong gradient, a missed
      // update) moves the second step's losses by 1e-3 or more. 1e-4 lies between the two.
      for (const [step, row] of want.stats.entries()) {
        for (const [j, value] of row.entries()) {
          const diff = Math.abs(got.stats[step][j] - value);
          largest = Math.max(largest, diff);
          assert.ok(
            Number.isFinite(got.stats[step][j]) && diff <= 1e-4,
            `${model} step ${step + 1} stat ${j}: webgpu ${got.stats[step][j]}, wasm ${value}`,
          );
        }
      }
    }
    t.diagnostic(`largest difference from wasm: ${largest.toExponential(1)}`);
  },
);

test(
  'webgpu exact resume: a DCGAN (--channels 4) trained 4 steps straight and 2 + resume 2 gives bit-identical G, D and state',
  { timeout: 300_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const work = tmpDir();
    const common = ['--backend', 'webgpu', '--arch', 'dcgan', '--channels', '4', '--limit', '16', '--batch-size', '8', '--seed', '3'];
    const straight = path.join(work, 'straight');
    const split = path.join(work, 'split');
    for (const args of [
      ['train', '--epochs', '2', ...common, '--out', straight],
      ['train', '--epochs', '1', ...common, '--out', split],
      ['train', '--resume', '--epochs', '2', '--backend', 'webgpu', '--out', split],
    ]) {
      const r = gan(args);
      assert.equal(r.code, 0, r.stderr);
    }
    const ckpt = (run: string) => path.join(run, 'checkpoints', 'step-000000004');
    for (const f of ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin']) {
      assert.equal(sha256(path.join(ckpt(split), f)), sha256(path.join(ckpt(straight), f)), f);
    }
    assert.deepEqual(stateWithoutTimes(path.join(ckpt(split), 'state.json')), stateWithoutTimes(path.join(ckpt(straight), 'state.json')));
    assert.equal(sha256(path.join(split, 'samples', 'epoch-0002.png')), sha256(path.join(straight, 'samples', 'epoch-0002.png')));
  },
);

test(
  'gan train --backend webgpu, then gan sample --backend webgpu: the files of a wasm run, and samples as wasm draws them',
  { timeout: 300_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    const work = tmpDir();
    const args = ['--epochs', '1', '--limit', '16', '--batch-size', '8', '--seed', '3'];
    const run = path.join(work, 'run');
    const r = gan(['train', '--backend', 'webgpu', ...args, '--out', run]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backend: webgpu on /);
    assert.match(r.stdout, /done: 1 epoch, 2 steps; checkpoint /);
    const metrics = JSON.parse(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8'));
    assert.equal(metrics.backend, 'webgpu');
    assert.equal(metrics.iterations, 2);
    for (const key of ['d_loss', 'g_loss', 'd_real', 'd_fake']) assert.ok(Number.isFinite(metrics[key]), `${key} ${metrics[key]}`);

    // The same run on wasm: the same files, the same model.json files (topology and weight specs).
    const reference = path.join(work, 'wasm');
    assert.equal(gan(['train', '--backend', 'wasm', ...args, '--out', reference]).code, 0);
    assert.deepEqual(filesUnder(run), filesUnder(reference));
    const ckpt = (dir: string) => path.join(dir, 'checkpoints', 'step-000000002');
    for (const f of ['generator/model.json', 'discriminator/model.json']) {
      assert.equal(fs.readFileSync(path.join(ckpt(run), f), 'utf8'), fs.readFileSync(path.join(ckpt(reference), f), 'utf8'), f);
    }
    for (const f of ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin']) {
      assert.equal(fs.statSync(path.join(ckpt(run), f)).size, fs.statSync(path.join(ckpt(reference), f)).size, f);
    }
    const [gridGpu, gridWasm] = [run, reference].map((dir) => pngGray(path.join(dir, 'samples', 'epoch-0001.png')));
    assert.deepEqual([gridGpu.width, gridGpu.height], [gridWasm.width, gridWasm.height]);

    // Samples of the webgpu run, drawn on webgpu and on wasm: the same grid, but for float32
    // rounding that can move a pixel by one gray level across a rounding boundary.
    const gpuPng = path.join(work, 'webgpu.png');
    const s = gan(['sample', '--backend', 'webgpu', '--run', run, '--n', '16', '--seed', '1', '--out', gpuPng]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /wrote a grid of 16 samples from step-000000002 \(epoch 1\)/);
    const wasmPng = path.join(work, 'wasm.png');
    assert.equal(gan(['sample', '--backend', 'wasm', '--run', run, '--n', '16', '--seed', '1', '--out', wasmPng]).code, 0);
    const [a, b] = [gpuPng, wasmPng].map(pngGray);
    assert.deepEqual([a.width, a.height], [b.width, b.height]);
    let differing = 0;
    for (let i = 0; i < a.gray.length; i++) {
      assert.ok(Math.abs(a.gray[i] - b.gray[i]) <= 1, `pixel ${i}: webgpu ${a.gray[i]}, wasm ${b.gray[i]}`);
      if (a.gray[i] !== b.gray[i]) differing++;
    }
    assert.ok(differing < a.gray.length / 100, `${differing} of ${a.gray.length} pixels differ`);
  },
);

test(
  'gan eval --backend webgpu: the classifier runs on wasm beside the webgpu generator, so the real row is the figure wasm gives',
  { timeout: 300_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    // A small classifier in a fresh cache (trained here on wasm in seconds), as $GAN_CACHE_DIR has the commands find it.
    const tf = await testTf();
    const cacheDir = tmpDir();
    const classifier = await trainClassifier(tf, 'wasm', { limit: 2000, epochs: 1, seed: 3 });
    await saveClassifier(tf, classifierDir({ GAN_CACHE_DIR: cacheDir }), classifier);
    classifier.model.dispose();
    const run = path.join(tmpDir(), 'run');
    assert.equal(
      gan(['train', '--backend', 'webgpu', '--epochs', '1', '--limit', '16', '--batch-size', '8', '--seed', '3', '--out', run]).code,
      0,
    );
    const rows = (backend: string) => {
      const r = spawnSync(process.execPath, [BIN, 'eval', '--json', '--backend', backend, '--run', run, '--n', '100'], {
        encoding: 'utf8',
        env: { ...process.env, DEBUG: '', GAN_CACHE_DIR: cacheDir },
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number>);
    };
    const [gpuRows, wasmRows] = [rows('webgpu'), rows('wasm')];
    // The real images and the classifier are the same and run on the same backend: the same figures, bit for bit.
    const { seconds: _a, ...gpuReal } = gpuRows[0];
    const { seconds: _b, ...wasmReal } = wasmRows[0];
    assert.deepEqual(gpuReal, wasmReal);
    // The samples come from each backend's generator: within float32 rounding of each other.
    assert.ok(
      Math.abs(gpuRows[1].fid - wasmRows[1].fid) <= 1e-2 * wasmRows[1].fid,
      `FID webgpu ${gpuRows[1].fid}, wasm ${wasmRows[1].fid}`,
    );
  },
);
