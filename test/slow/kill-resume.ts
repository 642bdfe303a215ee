/**
 * Never lose a run, checked the hard way: N runs killed with SIGKILL at random moments
 * (checkpoints are written every few steps, so many kills land inside a checkpoint write),
 * each followed by `gan train --resume`, which must load the newest complete checkpoint and
 * finish. The finished weights must equal those of an uninterrupted run (same seed, backend).
 *
 *   npm run test:kill            20 trials
 *   npm run test:kill -- 5       5 trials
 *   npm run test:kill -- 20 --arch dcgan --channels 4     20 trials of another model (any train flags)
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'gan.js');
/** Train flags after the trial count choose the model: e.g. --arch dcgan --channels 4, --conditional. */
const MODEL = process.argv.slice(3);
const TRAIN = ['train', '--epochs', '2', '--limit', '1024', '--batch-size', '16', '--seed', '21', '--checkpoint-every', '4', ...MODEL];
const TOTAL_STEPS = 2 * 64;

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

function finalHashes(run: string): string {
  const ckpt = path.join(run, 'checkpoints', `step-${String(TOTAL_STEPS).padStart(9, '0')}`);
  return ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin']
    .map((f) => crypto.createHash('sha256').update(fs.readFileSync(path.join(ckpt, f))).digest('hex').slice(0, 16))
    .join(' ');
}

function checkpointsOf(run: string): string[] {
  const dir = path.join(run, 'checkpoints');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

async function main() {
  const trials = Number(process.argv[2] ?? 20);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-kill-'));
  const reference = path.join(work, 'reference');
  const ref = spawnSync(process.execPath, [BIN, ...TRAIN, '--out', reference], { encoding: 'utf8' });
  if (ref.status !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
  const want = finalHashes(reference);
  console.log(`reference (uninterrupted${MODEL.length ? `, ${MODEL.join(' ')}` : ''}) final weights: ${want}`);

  let ok = 0;
  for (let t = 1; t <= trials; t++) {
    const run = path.join(work, `trial-${t}`);
    const child = spawn(process.execPath, [BIN, ...TRAIN, '--out', run], { stdio: 'ignore' });
    // Wait for the first checkpoint, so there is something to resume, then kill at a random moment.
    while (checkpointsOf(run).filter((n) => n.startsWith('step-')).length === 0 && child.exitCode === null) await sleep(20);
    const delay = Math.floor(Math.random() * 2500);
    await sleep(delay);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    // What the kill left: complete checkpoints and any half-written .tmp-* folder.
    const left = checkpointsOf(run);
    const resume = spawnSync(process.execPath, [BIN, 'train', '--resume', '--out', run], { encoding: 'utf8' });
    const from = /from (step-\d+)/.exec(resume.stdout)?.[1] ?? '(none)';
    let verdict: string;
    if (resume.status !== 0) verdict = `FAILED: resume exited ${resume.status}: ${resume.stderr.trim()}`;
    else if (finalHashes(run) !== want) verdict = `FAILED: final weights ${finalHashes(run)} differ from the reference`;
    else {
      verdict = 'ok';
      ok++;
    }
    console.log(`trial ${t}: killed ${delay} ms after the first checkpoint; left on disk: ${left.join(', ')}; resumed from ${from}: ${verdict}`);
  }
  console.log(`${ok}/${trials} killed runs resumed and finished with the reference weights`);
  fs.rmSync(work, { recursive: true, force: true });
  if (ok !== trials) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
