/**
 * Never lose a run, checked the hard way: N runs killed with SIGKILL, each followed by
 * `gan train --resume`, which must load the newest complete checkpoint (or start from step 0
 * when the run had none yet) and finish. The finished weights must equal those of an
 * uninterrupted run (same seed, backend), and no temporary file may be left in the run. The
 * per-step logs must match the uninterrupted run's too, each step once: steps.jsonl (timing
 * fields aside) and the scalars and grids of the TensorBoard event files.
 *
 * The kills rotate over four moments:
 *   before-checkpoint  as soon as run.json exists, before the first checkpoint (0-100 ms later)
 *   grid               when the epoch-end grid's temporary file appears (0-3 ms later)
 *   report             when the per-epoch report's temporary files appear (0-3 ms later)
 *   random             0-2.5 s after the first checkpoint (checkpoints every 4 steps, so many
 *                      kills land inside a checkpoint write)
 *
 *   npm run test:kill            20 trials
 *   npm run test:kill -- 5       5 trials
 *   npm run test:kill -- 20 --arch dcgan --channels 4     20 trials of another model (any train flags)
 *   npm run test:kill -- 20 --preset stable --instance-noise 0.1 --feature-matching --replay 4 \
 *       --historical-averaging 0.001 --ema 0.99               20 trials with every trick on
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEventFile, scalarsAndImages } from '../tfevents-reader';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'gan.js');
/** Train flags after the trial count choose the model: e.g. --arch dcgan --channels 4, --conditional. */
const MODEL = process.argv.slice(3);
const TRAIN = ['train', '--epochs', '2', '--limit', '1024', '--batch-size', '16', '--seed', '21', '--checkpoint-every', '4', ...MODEL];
const TOTAL_STEPS = 2 * 64;
const MOMENTS = ['before-checkpoint', 'grid', 'report', 'random'] as const;
type Moment = (typeof MOMENTS)[number];

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

function finalHashes(run: string): string {
  const ckpt = path.join(run, 'checkpoints', `step-${String(TOTAL_STEPS).padStart(9, '0')}`);
  // With --ema the run's third network is compared too (state.bin holds every other trick's state).
  const files = ['generator/weights.bin', 'discriminator/weights.bin', 'state.bin', 'ema_generator/weights.bin'];
  return files
    .filter((f) => f !== 'ema_generator/weights.bin' || fs.existsSync(path.join(ckpt, f)))
    .map((f) =>
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(ckpt, f)))
        .digest('hex')
        .slice(0, 16),
    )
    .join(' ');
}

/** What the per-step logs hold, timing aside: a digest, and how many steps and images for the message. */
function logsOf(run: string): { digest: string; summary: string } {
  const steps = fs
    .readFileSync(path.join(run, 'steps.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { wall_time: _w, ms_per_iter: _m, ...rest } = JSON.parse(l);
      return JSON.stringify(rest);
    });
  const tb = scalarsAndImages(run);
  const images = tb.images.map((i) => `${i.tag}@${i.step}:${crypto.createHash('sha256').update(i.png).digest('hex')}`);
  const digest = crypto
    .createHash('sha256')
    .update([...steps, ...tb.scalars, ...images].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return { digest, summary: `${steps.length} steps.jsonl lines, ${tb.scalars.length} scalars, ${images.length} images` };
}

/**
 * What the kill left in the per-step logs past the newest checkpoint (which the resume must
 * drop): steps.jsonl lines past it or cut, events past it, event files ending in a cut record.
 */
function staleLogs(run: string): string {
  const step = Math.max(0, ...checkpointsOf(run).map((n) => Number(/^step-(\d+)$/.exec(n)?.[1] ?? 0)));
  const file = path.join(run, 'steps.jsonl');
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  const stale = lines.filter((l) => {
    try {
      return JSON.parse(l).step > step;
    } catch {
      return true;
    }
  }).length;
  let events = 0;
  let torn = 0;
  for (const name of fs.existsSync(run) ? fs.readdirSync(run).filter((n) => n.includes('tfevents')) : []) {
    const bytes = fs.readFileSync(path.join(run, name));
    try {
      events += readEventFile(bytes).filter((e) => e.step > step).length;
    } catch {
      torn++;
    }
  }
  return `${stale} steps.jsonl line(s), ${events} event(s) past step ${step}${torn ? `, ${torn} event file(s) ending in a cut record` : ''}`;
}

function checkpointsOf(run: string): string[] {
  const dir = path.join(run, 'checkpoints');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** Temporary files (name.tmp-PID-xxxx, .tmp-step-... folders) anywhere in the run. */
function temporaries(run: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name.includes('.tmp-')) out.push(path.relative(run, p));
      else if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(run)) walk(run);
  return out;
}

/** Resolves when a file whose name matches `pattern` appears in `dir` (created if need be). */
function whenTemporaryAppears(dir: string, pattern: RegExp, child: ChildProcess): Promise<string | undefined> {
  fs.mkdirSync(dir, { recursive: true });
  return new Promise((resolve) => {
    const watcher = fs.watch(dir, (_event, name) => {
      if (name && pattern.test(name)) {
        watcher.close();
        resolve(name);
      }
    });
    child.on('exit', () => {
      watcher.close();
      resolve(undefined);
    });
  });
}

async function killAt(moment: Moment, run: string, child: ChildProcess): Promise<string> {
  switch (moment) {
    case 'before-checkpoint': {
      while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
      const delay = Math.floor(Math.random() * 100);
      await sleep(delay);
      return `${delay} ms after run.json appeared`;
    }
    case 'grid':
    case 'report': {
      // The run folder exists once the backend has loaded; the watch is set up before any epoch ends.
      while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
      const [dir, pattern] =
        moment === 'grid' ? [path.join(run, 'samples'), /^\.epoch-\d+\.png\.tmp-/] : [run, /^\.(report\.html|timeline\.gif)\.tmp-/];
      const seen = await whenTemporaryAppears(dir, pattern, child);
      const delay = Math.floor(Math.random() * 4);
      if (delay) await sleep(delay);
      return seen ? `${delay} ms after ${seen.replace(/\.tmp-.*/, '.tmp-*')} appeared` : 'never (the run ended first)';
    }
    case 'random': {
      while (checkpointsOf(run).filter((n) => n.startsWith('step-')).length === 0 && child.exitCode === null) await sleep(20);
      const delay = Math.floor(Math.random() * 2500);
      await sleep(delay);
      return `${delay} ms after the first checkpoint`;
    }
  }
}

async function main() {
  const trials = Number(process.argv[2] ?? 20);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-kill-'));
  const reference = path.join(work, 'reference');
  const ref = spawnSync(process.execPath, [BIN, ...TRAIN, '--out', reference], { encoding: 'utf8' });
  if (ref.status !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
  const want = finalHashes(reference);
  const wantLogs = logsOf(reference);
  console.log(
    `reference (uninterrupted${MODEL.length ? `, ${MODEL.join(' ')}` : ''}) final weights: ${want}; logs ${wantLogs.digest} (${wantLogs.summary})`,
  );

  let ok = 0;
  const byMoment = new Map<Moment, { ok: number; n: number }>(MOMENTS.map((m) => [m, { ok: 0, n: 0 }]));
  for (let t = 1; t <= trials; t++) {
    const moment = MOMENTS[(t - 1) % MOMENTS.length];
    const run = path.join(work, `trial-${t}`);
    const child = spawn(process.execPath, [BIN, ...TRAIN, '--out', run], { stdio: 'ignore' });
    const when = await killAt(moment, run, child);
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
    // What the kill left: complete checkpoints and any half-written temporary file.
    const left = [...checkpointsOf(run).filter((n) => n.startsWith('step-')), ...temporaries(run)];
    const stale = staleLogs(run);
    const resume = spawnSync(process.execPath, [BIN, 'train', '--resume', '--out', run], { encoding: 'utf8' });
    const from =
      /from (step-\d+)/.exec(resume.stdout)?.[1] ??
      (/resuming it from step 0/.test(resume.stdout) ? 'step 0 (no checkpoint yet)' : '(none)');
    let verdict: string;
    if (resume.status !== 0) verdict = `FAILED: resume exited ${resume.status}: ${resume.stderr.trim()}`;
    else if (finalHashes(run) !== want) verdict = `FAILED: final weights ${finalHashes(run)} differ from the reference`;
    else if (temporaries(run).length) verdict = `FAILED: temporary files left after the resumed run: ${temporaries(run).join(', ')}`;
    else if (logsOf(run).digest !== wantLogs.digest) verdict = `FAILED: per-step logs differ from the reference: ${logsOf(run).summary}`;
    else {
      verdict = 'ok';
      ok++;
      byMoment.get(moment)!.ok++;
    }
    byMoment.get(moment)!.n++;
    console.log(
      `trial ${t} (${moment}): killed ${when}; left on disk: ${left.join(', ') || 'no checkpoint'}; stale: ${stale}; resumed from ${from}: ${verdict}`,
    );
  }
  console.log(`by moment: ${[...byMoment].map(([m, r]) => `${m} ${r.ok}/${r.n}`).join(', ')}`);
  console.log(`${ok}/${trials} killed runs resumed and finished with the reference weights`);
  fs.rmSync(work, { recursive: true, force: true });
  if (ok !== trials) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
