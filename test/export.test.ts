/**
 * A run's exported generator is a stock LayersModel: a plain script in another folder, with
 * stock tfjs and none of our code, loads it with tf.loadLayersModel and draws the pixels that
 * `gan sample` writes, for the same noise and labels.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { parseIdx } from '../src/data/idx';
import { Rng, Stream } from '../src/core/rng';
import { sampleLabels } from '../src/nets/gan-model';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function gan(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

// The stock loader: what a user of the exported files writes. Stock tfjs (pure-JS backend), no gan code.
const STOCK_SCRIPT = `
const tf = require(process.env.TFJS);
const fs = require('fs');
const path = require('path');
(async () => {
  const dir = process.argv[2];
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weights = fs.readFileSync(path.join(dir, json.weightsManifest[0].paths[0]));
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const meta = json.userDefinedMetadata.gan;
  const input = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const n = input.labels ? input.labels.length : input.z.length / meta.inputs[0].shape[1];
  const z = tf.tensor2d(input.z, [n, meta.inputs[0].shape[1]]);
  const out = model.predict(meta.conditional ? [z, tf.tensor2d(input.labels, [n, 1])] : z);
  const side = Math.round(Math.sqrt(out.size / n));
  const size = meta.imageSize, off = (side - size) / 2;
  const v = out.dataSync(), bytes = [];
  for (let i = 0; i < n; i++) for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
    const x = Math.round((v[i * side * side + (r + off) * side + c + off] + 1) * 127.5);
    bytes.push(Math.min(255, Math.max(0, x)));
  }
  process.stdout.write(JSON.stringify(bytes));
})();
`;

for (const [name, flags] of [
  ['DCGAN', ['--arch', 'dcgan', '--channels', '4']],
  ['conditional MLP', ['--conditional']],
  ['conditional DCGAN', ['--arch', 'dcgan', '--channels', '4', '--conditional']],
] as Array<[string, string[]]>) {
  test(`stock tfjs in another folder loads the exported ${name} generator and reproduces gan sample's pixels`, () => {
    const work = tmpDir();
    const run = path.join(work, 'run');
    gan(['train', '--epochs', '1', '--limit', '64', '--batch-size', '32', '--seed', '4', ...flags, '--out', run]);
    const n = 20;
    const idx = path.join(work, 'samples.idx');
    gan(['sample', '--run', run, '--n', String(n), '--seed', '9', '--out', idx]);
    const ours = parseIdx(fs.readFileSync(idx), 3, idx).data;

    // The same noise gan sample draws (seed 9, the sample stream), and its labels.
    const z = Array.from(Rng.for(9, Stream.sample).fillNormal(new Float32Array(n * 100)));
    const conditional = flags.includes('--conditional');
    const elsewhere = tmpDir('gan-stock-');
    fs.writeFileSync(path.join(elsewhere, 'load.js'), STOCK_SCRIPT);
    fs.writeFileSync(
      path.join(elsewhere, 'input.json'),
      JSON.stringify({ z, labels: conditional ? Array.from(sampleLabels(n)) : undefined }),
    );
    const ckptDir = path.join(run, 'checkpoints');
    const generator = path.join(ckptDir, fs.readdirSync(ckptDir).sort().pop()!, 'generator');
    const r = spawnSync(process.execPath, ['load.js', generator, 'input.json'], {
      cwd: elsewhere,
      encoding: 'utf8',
      env: { ...process.env, TFJS: require.resolve('@tensorflow/tfjs') },
    });
    assert.equal(r.status, 0, r.stderr);
    const theirs: number[] = JSON.parse(r.stdout);
    assert.equal(theirs.length, ours.length);
    // Another backend's float rounding may move a pixel by one level, no more.
    let exact = 0;
    let worst = 0;
    theirs.forEach((v, i) => {
      const d = Math.abs(v - ours[i]);
      if (d === 0) exact++;
      worst = Math.max(worst, d);
    });
    assert.ok(worst <= 1, `${name}: a pixel differs by ${worst} levels`);
    assert.ok(exact / ours.length > 0.99, `${name}: only ${exact} of ${ours.length} pixels equal`);
  });
}
