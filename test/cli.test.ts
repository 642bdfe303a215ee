/** The built command, spawned as a user runs it: the smoke run and the failure paths. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { tmpDir } from './helpers';
import { parseIdx } from '../src/data/idx';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function gan(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('smoke: train 1 epoch on 512 images, then sample a 64-tile grid and an IDX file', () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  const t = gan(['train', '--epochs', '1', '--limit', '512', '--seed', '3', '--out', run]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /backend: wasm/);
  assert.match(t.stdout, /epoch 1\/1 +d_loss \d/); // stdout is not a terminal: plain lines
  assert.ok(fs.existsSync(path.join(run, 'samples', 'epoch-0001.png')));
  assert.ok(fs.existsSync(path.join(run, 'checkpoints', 'step-000000008', 'generator', 'model.json')));
  const metrics = fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(metrics.length, 1);
  assert.equal(metrics[0].epoch, 1);
  assert.equal(metrics[0].iterations, 8);
  assert.equal(metrics[0].backend, 'wasm');
  for (const k of ['d_loss', 'g_loss', 'd_real', 'd_fake', 'seconds', 'ms_per_iter']) assert.ok(Number.isFinite(metrics[0][k]), k);

  const grid = path.join(work, 'grid.png');
  const s = gan(['sample', '--n', '64', '--out', grid, '--run', run]);
  assert.equal(s.code, 0, s.stderr);
  const png = PNG.sync.read(fs.readFileSync(grid));
  assert.deepEqual([png.width, png.height], [8 * 28 + 9 * 2, 8 * 28 + 9 * 2]);

  const idx = path.join(work, 'samples.idx');
  const i = gan(['sample', '--n', '100', '--out', idx, '--run', run]);
  assert.equal(i.code, 0, i.stderr);
  assert.equal(fs.statSync(idx).size, 16 + 100 * 784);
  assert.deepEqual(parseIdx(fs.readFileSync(idx), 3).dims, [100, 28, 28]);

  // The newest run is the default of `gan sample`: runs numbered under ./checkpoints.
  const t2 = gan(['train', '--epochs', '1', '--limit', '64', '--seed', '3'], work);
  assert.equal(t2.code, 0, t2.stderr);
  assert.ok(fs.existsSync(path.join(work, 'checkpoints', 'run-001', 'run.json')));
  const s2 = gan(['sample', '--n', '10', '--out', 'ten.png'], work);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stdout, /grid of 10 samples/);

  // A directory that holds a run is never overwritten.
  const again = gan(['train', '--epochs', '1', '--limit', '64', '--out', run]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already holds a run.*--resume/);
});

test('bad input: one line naming the problem and the fix, a non-zero exit, no stack trace', () => {
  const work = tmpDir();
  const cases: Array<[string[], number, RegExp]> = [
    [['train', '--epochs', '-1'], 2, /--epochs must be a whole number/],
    [['train', '--epochs', '0'], 2, /--epochs must be a whole number from 1/],
    [['train', '--batch-size', 'abc'], 2, /--batch-size must be a whole number/],
    [['train', '--lr', '0'], 2, /--lr must be a number in \(0, 1\)/],
    [['train', '--backend', 'tpu'], 2, /unknown backend 'tpu'.*one of: auto, tensorflow-gpu, tensorflow, webgpu, wasm, cpu/],
    [
      ['train', '--backend', 'tensorflow-gpu', '--out', path.join(work, 'gpu')],
      1,
      /tensorflow-gpu is not available.*npm install @tensorflow\/tfjs-node-gpu@4.22.0/,
    ],
    [['train', '--data', path.join(work, 'nodata'), '--out', path.join(work, 'x')], 1, /data folder .*nodata does not exist/],
    [['sample', '--run', path.join(work, 'norun'), '--out', path.join(work, 'g.png')], 1, /run folder .*norun does not exist/],
    [['sample', '--n', '10001'], 2, /--n must be a whole number from 1 to 10000/],
    [['sample', '--out', path.join(work, 'g.jpg')], 2, /unknown file type/],
    [['train', '--epoch', '3'], 2, /unknown option '--epoch' \(Did you mean --epochs\?\)/],
    // One sample has no covariance: refused with the flags, before any work.
    [['eval', '--n', '1'], 2, /--n must be a whole number from 2 to 60000, got '1'/],
    [['train', '--eval-every', '1', '--eval-samples', '1'], 2, /--eval-samples must be a whole number from 2 to 60000/],
    [
      ['train', '--resume', '--out', path.join(work, 'norun')],
      1,
      /norun is not a run directory \(no run.json\)\. Start a run there with: .*gan train --out/,
    ],
  ];
  for (const [args, code, message] of cases) {
    const r = gan(args, work);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // Nothing was created by the failed runs.
  assert.ok(!fs.existsSync(path.join(work, 'gpu')));
  assert.ok(!fs.existsSync(path.join(work, 'x')));
  assert.ok(!fs.existsSync(path.join(work, 'checkpoints')));
});
