/**
 * Failure-mode diagnosis (src/train/diagnose.ts) on the metrics of real runs (test/fixtures/diagnosis/,
 * recorded with the commands in its README) and end to end through the CLI.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diagnose, type EpochSignals } from '../src/train/diagnose';
import { tmpDir } from './helpers';

const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'diagnosis');
const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function recorded(name: string): EpochSignals[] {
  return fs
    .readFileSync(path.join(FIXTURES, `${name}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

/** The diagnosis after each epoch of a run, as the trainer makes it. */
function modes(history: EpochSignals[]): Array<string | undefined> {
  return history.map((_, i) => diagnose(history.slice(0, i + 1))?.mode);
}

test('healthy runs stay silent: the default MLP over 20 full epochs (with evaluations) and over 4 short ones', () => {
  for (const name of ['healthy-mlp-20-epochs', 'healthy-mlp-6400-images']) {
    assert.deepEqual(
      modes(recorded(name)).filter((m) => m !== undefined),
      [],
      name,
    );
  }
});

test("the DCGAN: a healthy run stays silent although its d_loss swings more than the MLP's; the same swings would be oscillation in an MLP", () => {
  for (const name of ['healthy-dcgan-7-epochs', 'healthy-dcgan-6400-images']) {
    const history = recorded(name);
    assert.deepEqual(
      history.map((_, i) => diagnose(history.slice(0, i + 1), 'dcgan')?.mode).filter((m) => m !== undefined),
      [],
      name,
    );
  }
  assert.equal(diagnose(recorded('healthy-dcgan-7-epochs').slice(0, 3), 'mlp')?.mode, 'oscillation');
  // --lr 0.01 does not break the DCGAN (batch norm keeps it learning digits): no warning is right.
  const fast = recorded('dcgan-lr-0.01');
  assert.deepEqual(
    fast.map((_, i) => diagnose(fast.slice(0, i + 1), 'dcgan')?.mode).filter((m) => m !== undefined),
    [],
  );
  const swinging = [1, 2].map((epoch) => ({ epoch, d_loss: 0.5, g_loss: 2, d_real: 0.8, d_fake: 0.2, d_loss_std: 1.2 }));
  assert.equal(diagnose(swinging, 'dcgan')?.mode, 'oscillation');
});

test('--lr 0.01: the discriminator wins while the losses swing, and the message says to lower --lr', () => {
  const history = recorded('lr-0.01');
  assert.equal(modes(history)[0], undefined, 'nothing after one epoch');
  const d = diagnose(history)!;
  assert.equal(d.mode, 'discriminator_wins');
  assert.match(d.message, /^D\(G\(z\)\) below 0.07 for 2 epochs .*steps are too large; lower --lr/);
});

test('a tiny generator (--generator-hidden 8): the discriminator wins calmly, and the message suggests smoothing, noise or a larger G', () => {
  const d = diagnose(recorded('generator-hidden-8'))!;
  assert.equal(d.mode, 'discriminator_wins');
  assert.match(d.message, /G's gradients vanish; try --label-smoothing 0.1 --one-sided or --instance-noise 0.1, or a larger generator/);
});

test('D trained on real images only: D calls everything real', () => {
  const history = recorded('d-real-only');
  assert.deepEqual(modes(history), [undefined, 'discriminator_fooled', 'discriminator_fooled', 'discriminator_fooled']);
  assert.match(diagnose(history)!.message, /calls everything real.*check that D trains on generated images/);
});

test('with evaluations: low class coverage is mode collapse, and FID rising well above its best is reported', () => {
  const base = { d_loss: 1.2, g_loss: 1, d_real: 0.6, d_fake: 0.4, d_loss_std: 0.1, g_loss_std: 0.1 };
  const collapsed = [
    { epoch: 1, ...base },
    { epoch: 2, ...base, fid: 90, classes_covered: 4 },
  ];
  assert.equal(diagnose(collapsed)?.mode, 'mode_collapse');
  assert.match(diagnose(collapsed)!.message, /cover only 4 of 10 digit classes: mode collapse; try --feature-matching/);
  const fids = [40, 20, 35, 45];
  const rising = fids.map((fid, i) => ({ epoch: i + 1, ...base, fid, classes_covered: 10 }));
  assert.deepEqual(modes(rising), [undefined, undefined, undefined, 'fid_rising']);
  // Oscillating losses without a winner.
  const swinging = [1, 2].map((epoch) => ({ epoch, ...base, d_loss_std: 0.9 }));
  assert.equal(diagnose(swinging)?.mode, 'oscillation');
});

test('through the CLI: a D trained on real images only gets one warning line and metrics.jsonl records the diagnosis; a healthy run none', () => {
  const work = tmpDir();
  const run = (name: string, extra: string[]) => {
    const out = path.join(work, name);
    const r = spawnSync(
      process.execPath,
      [BIN, 'train', '--epochs', '3', '--limit', '1280', '--batch-size', '32', '--seed', '3', ...extra, '--out', out],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    return { stdout: r.stdout, lines };
  };
  const broken = run('broken', ['--debug-d-real-only']);
  const warnings = broken.stdout.split('\n').filter((l) => l.startsWith('warning: '));
  assert.equal(warnings.length, 1, broken.stdout);
  assert.match(warnings[0], /D\(x\) and D\(G\(z\)\) both above 0.9 for 2 epochs/);
  // Epoch 1's mean D(G(z)) is still climbing; epochs 2 and 3 are both above 0.9.
  assert.deepEqual(
    broken.lines.map((m) => m.diagnosis?.mode),
    [undefined, undefined, 'discriminator_fooled'],
  );
  const healthy = run('healthy', []);
  assert.doesNotMatch(healthy.stdout, /warning/);
  assert.ok(healthy.lines.every((m) => m.diagnosis === undefined && typeof m.d_loss_std === 'number'));
});
