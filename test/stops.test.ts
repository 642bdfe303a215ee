/**
 * Never lose a run: every way a run can stop leaves a way on. Runs killed before their first
 * checkpoint, a second writer, a closed or full stdout, signals with --checkpoint-every 1 in the
 * last epoch, an extended run interrupted and resumed as the hint says, other data on resume.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { encodeIdx3 } from '../src/data/idx';
import { loadImages } from '../src/data/mnist';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function gan(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function checkpoints(run: string): string[] {
  const dir = path.join(run, 'checkpoints');
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => n.startsWith('step-'))
        .sort()
    : [];
}

function weightHashes(run: string, checkpoint = checkpoints(run).at(-1)!): string {
  const ckpt = path.join(run, 'checkpoints', checkpoint);
  return ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin']
    .map((f) =>
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(ckpt, f)))
        .digest('hex'),
    )
    .join(' ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', (c) => r(c))));

/** Starts `gan train` and SIGKILLs it as soon as its run.json exists (long before its first checkpoint). */
async function deadEnd(args: string[], run: string): Promise<void> {
  const child = spawn(process.execPath, [BIN, ...args, '--out', run], { stdio: 'ignore' });
  while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(5);
  child.kill('SIGKILL');
  await exited(child);
  assert.deepEqual(checkpoints(run), [], 'killed before the first checkpoint');
}

const SMALL = ['train', '--epochs', '1', '--limit', '512', '--batch-size', '16', '--seed', '7'];

/** One uninterrupted 2-epoch run of SMALL's settings (32 steps an epoch), shared by the tests. */
let straightRun: string | undefined;
function straight(): string {
  if (!straightRun) {
    straightRun = path.join(tmpDir(), 'straight');
    const r = gan([...SMALL, '--epochs', '2', '--out', straightRun]);
    assert.equal(r.code, 0, r.stderr);
  }
  return straightRun;
}

test('a run killed before its first checkpoint resumes from step 0, or starts over in place, to the exact weights', async () => {
  const work = tmpDir();
  const resumed = path.join(work, 'resumed');
  await deadEnd(SMALL, resumed);
  const r = gan(['train', '--resume', '--out', resumed]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stopped before its first checkpoint: resuming it from step 0 with its stored settings/);
  assert.equal(weightHashes(resumed), weightHashes(straight(), 'step-000000032'));

  const restarted = path.join(work, 'restarted');
  await deadEnd(SMALL, restarted);
  const t = gan([...SMALL, '--out', restarted]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /stopped before its first checkpoint: starting it over in place/);
  assert.equal(weightHashes(restarted), weightHashes(resumed));
  assert.ok(!fs.existsSync(path.join(restarted, 'train.lock')), 'the lock is released');
});

test('one writer per run: a second writer is refused in one line, sample works meanwhile, a SIGKILLed writer does not block', async () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  // Long enough (1250 steps) never to finish while the others try; it is killed.
  const args = ['train', '--epochs', '1', '--limit', '20000', '--batch-size', '16', '--seed', '4', '--checkpoint-every', '16'];
  const first = spawn(process.execPath, [BIN, ...args, '--out', run], { stdio: 'ignore' });
  while (checkpoints(run).length === 0 && first.exitCode === null) await sleep(10);
  const second = gan(['train', '--resume', '--epochs', '2', '--out', run]);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`is being trained by process ${first.pid} .*gan sample and gan eval work on the run meanwhile`));
  assert.equal(second.stderr.trim().split('\n').length, 1);
  const fresh = gan([...args, '--out', run]);
  assert.equal(fresh.code, 1, fresh.stderr);
  assert.match(fresh.stderr, /is being trained by process/);
  const s = gan(['sample', '--run', run, '--n', '4', '--out', path.join(work, 'g.png')]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(first.exitCode === null, 'the first writer was still training');
  first.kill('SIGKILL');
  await exited(first);
  assert.ok(fs.existsSync(path.join(run, 'train.lock')), 'SIGKILL leaves the lock file');
  // The next writer takes the stale lock and trains; stopped once it has begun, it checkpoints and releases the lock.
  const third = spawn(process.execPath, [BIN, 'train', '--resume', '--log-every', '1', '--out', run], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  third.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve) => {
    let out = '';
    third.stdout!.on('data', (d) => {
      out += d;
      if (/ step \d+ /.test(out)) resolve();
    });
    third.on('exit', () => resolve());
  });
  third.kill('SIGINT');
  assert.equal(await exited(third), 130, stderr);
  assert.match(stderr, /stopped by SIGINT at step/);
  assert.ok(!fs.existsSync(path.join(run, 'train.lock')));
});

test('stdout closed (| head -1) or full (/dev/full): a checkpoint at the current step, a clean exit, a run that resumes', async () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  const child = spawn(process.execPath, [BIN, ...SMALL, '--log-every', '1', '--out', run], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  // Like `| head -1`: read the first line, then close the pipe.
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.stdout!.destroy();
  const code = await exited(child);
  assert.equal(code, 141, stderr);
  assert.match(stderr, /^gan: output closed \(EPIPE\): stopped at step \d+; checkpoint .*Resume with: .*gan train --resume --out/);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.equal(checkpoints(run).length, 1);

  if (fs.existsSync('/dev/full')) {
    const full = path.join(work, 'full');
    const out = fs.openSync('/dev/full', 'w');
    const r = spawnSync(process.execPath, [BIN, ...SMALL, '--out', full], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
    fs.closeSync(out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^gan: error: cannot write to standard output \(ENOSPC\): stopped at step \d+; checkpoint .*resume with: .*gan train --resume --out/,
    );
    assert.equal(checkpoints(full).length, 1);
  }
});

test('an extended run stopped by SIGTERM in its last epoch with --checkpoint-every 1 resumes as the hint says, to the exact weights', async () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  assert.equal(gan([...SMALL, '--out', run]).code, 0);
  const child = spawn(
    process.execPath,
    [BIN, 'train', '--resume', '--epochs', '2', '--checkpoint-every', '1', '--log-every', '4', '--out', run],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  // Progress lines come every 4 steps even though every step is followed by a checkpoint.
  const seen = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /epoch 2\/2 +step (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  child.kill('SIGTERM');
  assert.equal(await exited(child), 143, stderr);
  const hint = /Resume with: (?:npx (?:--prefix \S+ )?)?gan (train --resume --out \S+)/.exec(stderr);
  assert.ok(hint, stderr);
  const stopped = Number(/stopped by SIGTERM at step (\d+)/.exec(stderr)![1]);
  assert.ok(stopped >= seen && stopped < 64, `stopped at step ${stopped} (signal sent after step ${seen}), inside the last epoch`);
  // The hint as printed: the run's target (2 epochs) is stored with it.
  const resumed = gan(hint[1].split(' '));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /epochs 2\.\.2/);
  assert.match(resumed.stdout, /done: 2 epochs, 64 steps/);
  assert.equal(weightHashes(run), weightHashes(straight(), 'step-000000064'));
});

test('resume refuses other training data than the run started with, and a run.json that is not valid', () => {
  const work = tmpDir();
  const data = path.join(work, 'data');
  fs.mkdirSync(data);
  const images = loadImages({ limit: 64 });
  const idx = encodeIdx3(images.pixels, 64, 28, 28);
  fs.writeFileSync(path.join(data, 'train-images-idx3-ubyte'), idx);
  const run = path.join(work, 'run');
  assert.equal(gan(['train', '--epochs', '1', '--batch-size', '32', '--seed', '1', '--data', data, '--out', run]).code, 0);
  idx[idx.length - 400] ^= 0xff;
  fs.writeFileSync(path.join(data, 'train-images-idx3-ubyte'), idx);
  const r = gan(['train', '--resume', '--epochs', '2', '--out', run]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the training data differs from the data .* started with .*Give the run its own data: it was in /);
  assert.deepEqual(checkpoints(run), ['step-000000002']);

  const runJson = path.join(run, 'run.json');
  const stored = JSON.parse(fs.readFileSync(runJson, 'utf8'));
  fs.rmSync(path.join(run, 'checkpoints'), { recursive: true });
  for (const [content, message] of [
    [{}, /run.json is not valid: format is not 'gan-run'; config is missing/],
    [{ ...stored, config: { ...stored.config, batchSize: '64' } }, /config.batchSize is "64", not a whole number/],
  ] as Array<[unknown, RegExp]>) {
    fs.writeFileSync(runJson, JSON.stringify(content));
    const bad = gan(['train', '--resume', '--out', run]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, message);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  }
});
