/**
 * One writer per run, checked the hard way, ten rounds of:
 *   1. a writer is started and killed with SIGKILL once it has a checkpoint (its lock file stays);
 *   2. two writers (`gan train --resume`) are started together on that run.
 * Exactly one of the two must train (exit 0) and the other be refused in one line (exit 1),
 * whoever of them breaks the stale lock; the run must end with the uninterrupted run's weights,
 * every epoch once in metrics.jsonl, and no lock file.
 *
 *   npm run test:lock            10 rounds
 *   npm run test:lock -- 3       3 rounds
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'gan.js');
// 256 steps: long enough that the second writer starts while the first trains.
const TRAIN = ['train', '--epochs', '1', '--limit', '4096', '--batch-size', '16', '--seed', '8', '--checkpoint-every', '8'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function finalHashes(run: string): string {
  const ckpt = path.join(run, 'checkpoints', 'step-000000256');
  return ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin']
    .map((f) =>
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(ckpt, f)))
        .digest('hex')
        .slice(0, 16),
    )
    .join(' ');
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function main() {
  const rounds = Number(process.argv[2] ?? 10);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-lock-'));
  const reference = path.join(work, 'reference');
  const ref = spawnSync(process.execPath, [BIN, ...TRAIN, '--out', reference], { encoding: 'utf8' });
  if (ref.status !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
  const want = finalHashes(reference);
  let ok = 0;
  for (let r = 1; r <= rounds; r++) {
    const dir = path.join(work, `round-${r}`);
    const killed = spawn(process.execPath, [BIN, ...TRAIN, '--out', dir], { stdio: 'ignore' });
    while (
      !fs.existsSync(path.join(dir, 'checkpoints')) ||
      fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => n.startsWith('step-')).length === 0
    ) {
      if (killed.exitCode !== null) throw new Error(`round ${r}: the first writer ended before its first checkpoint`);
      await sleep(10);
    }
    killed.kill('SIGKILL');
    await new Promise((res) => killed.on('exit', res));
    const stale = fs.existsSync(path.join(dir, 'train.lock'));
    const [a, b] = await Promise.all([run(['train', '--resume', '--out', dir]), run(['train', '--resume', '--out', dir])]);
    const trained = [a, b].filter((x) => x.code === 0);
    const refused = [a, b].filter(
      (x) => x.code === 1 && /is being trained by process \d+/.test(x.stderr) && x.stderr.trim().split('\n').length === 1,
    );
    const epochs = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).epoch);
    const problems: string[] = [];
    if (!stale) problems.push('SIGKILL left no lock file (nothing was tested)');
    if (trained.length !== 1 || refused.length !== 1)
      problems.push(`exit codes ${a.code} and ${b.code}: ${[a, b].map((x) => x.stderr.trim().split('\n').pop()).join(' | ')}`);
    if (JSON.stringify(epochs) !== '[1]') problems.push(`metrics.jsonl epochs ${JSON.stringify(epochs)}`);
    if (trained.length === 1 && finalHashes(dir) !== want) problems.push('final weights differ from the uninterrupted run');
    if (fs.existsSync(path.join(dir, 'train.lock'))) problems.push('a lock file is left');
    if (problems.length === 0) ok++;
    const refusal = refused[0]?.stderr.trim().replace(work, '$W') ?? '';
    console.log(
      `round ${r}: stale lock of the killed writer: ${stale ? 'yes' : 'no'}; one trained (exit 0), one refused (exit 1): "${refusal}"${problems.length ? `  FAILED: ${problems.join('; ')}` : '  ok'}`,
    );
  }
  console.log(
    `${ok}/${rounds} rounds: exactly one of two writers started together trained, past a SIGKILLed writer's lock, to the reference weights`,
  );
  fs.rmSync(work, { recursive: true, force: true });
  if (ok !== rounds) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
