/** Runs that survive interruption: exact resume, SIGINT mid-epoch, refusal of contradicting flags. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function gan(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function newestCheckpoint(run: string): string {
  const dir = path.join(run, 'checkpoints');
  return path.join(
    dir,
    fs
      .readdirSync(dir)
      .filter((n) => n.startsWith('step-'))
      .sort()
      .pop()!,
  );
}

function weightHashes(run: string): Record<string, string> {
  const ckpt = newestCheckpoint(run);
  const out: Record<string, string> = {};
  for (const f of ['generator/weights.bin', 'discriminator/weights.bin', 'ema_generator/weights.bin', 'state.bin']) {
    if (!fs.existsSync(path.join(ckpt, f))) continue;
    out[f] = crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(ckpt, f)))
      .digest('hex');
  }
  return out;
}

const COMMON = ['--limit', '320', '--batch-size', '32', '--seed', '11'];
/** Every stabilising trick at once, with state of each kind: EMA weights, replay ring, running averages, a schedule. */
const ALL_TRICKS = [
  '--label-smoothing',
  '0.1',
  '--smooth-real',
  'uniform',
  '--instance-noise',
  '0.1',
  '--noise-decay',
  '0.5',
  '--feature-matching',
  '--replay',
  '3',
  '--replay-fraction',
  '0.5',
  '--historical-averaging',
  '0.01',
  '--ema',
  '0.9',
];

for (const [name, model] of [
  ['MLP', []],
  ['DCGAN (batch-norm moving averages in the weights)', ['--arch', 'dcgan', '--channels', '4']],
  ['conditional MLP', ['--conditional']],
  ['MLP with every trick on', ALL_TRICKS],
  ['DCGAN with every trick on', ['--arch', 'dcgan', '--channels', '4', ...ALL_TRICKS]],
  ['conditional MLP with every trick on', ['--conditional', ...ALL_TRICKS]],
] as Array<[string, string[]]>) {
  test(`exact resume, ${name}: 3 epochs straight and 1 + resume to 3 give bit-identical weights and optimizer state`, () => {
    const work = tmpDir();
    const straight = path.join(work, 'straight');
    const split = path.join(work, 'split');
    assert.equal(gan(['train', '--epochs', '3', ...COMMON, ...model, '--out', straight]).code, 0);
    assert.equal(gan(['train', '--epochs', '1', ...COMMON, ...model, '--out', split]).code, 0);
    const r = gan(['train', '--resume', '--epochs', '3', '--out', split]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resuming .* from step-000000010 \(epoch 1, step 10\)/);
    const a = weightHashes(straight);
    const b = weightHashes(split);
    assert.deepEqual(b, a);
    assert.equal('ema_generator/weights.bin' in a, model.includes('--ema'));
    assert.equal(path.basename(newestCheckpoint(split)), 'step-000000030');
    // metrics.jsonl has one line per epoch, none repeated.
    const epochs = fs
      .readFileSync(path.join(split, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).epoch);
    assert.deepEqual(epochs, [1, 2, 3]);
  });
}

test('resume refuses flags that contradict the run, and a finished run without more epochs', () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  assert.equal(gan(['train', '--epochs', '1', ...COMMON, '--out', run]).code, 0);
  const conflict = gan(['train', '--resume', '--latent-dim', '64', '--out', run]);
  assert.equal(conflict.code, 2);
  assert.match(conflict.stderr, /cannot resume .* latentDim is 100 in the run, 64 was asked/);
  const done = gan(['train', '--resume', '--out', run]);
  assert.equal(done.code, 2);
  assert.match(done.stderr, /already finished 1 of 1 epochs.*--epochs/);
});

test('SIGINT mid-epoch: checkpoint at that step, exit 130, and the resumed run matches an uninterrupted one', async () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  const args = ['train', '--epochs', '2', '--limit', '2048', '--batch-size', '16', '--seed', '5'];
  const child = spawn(process.execPath, [BIN, ...args, '--out', run, '--log-every', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Interrupt at the first progress line (step 10 of 128 in epoch 1): the run stops at the
  // step it has reached when the signal lands, whichever that is.
  await new Promise<void>((resolve) => {
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (/ step \d+ /.test(stdout)) resolve();
    });
  });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopped by SIGINT at step (\d+).*Resume with: (npx )?gan train --resume --out/);
  const step = Number(/at step (\d+)/.exec(stderr)![1]);
  assert.ok(step > 0 && step < 256, `stopped inside the first epoch at step ${step}`);
  assert.equal(path.basename(newestCheckpoint(run)), `step-${String(step).padStart(9, '0')}`);

  const resumed = gan(['train', '--resume', '--out', run]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const straight = path.join(work, 'straight');
  assert.equal(gan([...args, '--out', straight]).code, 0);
  assert.deepEqual(weightHashes(run), weightHashes(straight));
});
