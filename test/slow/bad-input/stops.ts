/**
 * Full and read-only disks (a tmpfs: needs root, else SKIPPED), and the ways a run stops:
 * each leaves a way on, which the row runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { classifierDir } from '../../../src/eval/classifier';
import { Fixtures } from './fixtures';
import { BIN, Cleaner, gan, judged, skipped, sleep, snapshot, changes, type Outcome } from './harness';

const DISKS = 'Full and read-only disks';
const STOPS = 'Stops and traps: every way a run stops leaves a way on';
const SMALL_RUN = ['train', '--epochs', '1', '--limit', '2048', '--batch-size', '16', '--seed', '3'];

const mount = (dir: string, options: string) => spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
const oneLine = (s: string) => s.split('\n').filter(Boolean).length === 1 && !/\n\s+at /.test(s);

/** Runs `body` on a fresh tmpfs at work/name, or returns a SKIPPED row when it cannot be mounted. */
function onTmpfs(work: string, name: string, size: string, table: string, input: string, body: (dir: string) => Outcome): Outcome {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  if (!mount(dir, `size=${size}`)) return skipped(table, input, 'mounting a tmpfs needs root');
  try {
    return body(dir);
  } finally {
    spawnSync('umount', [dir]);
  }
}

export function diskRows(f: Fixtures): Outcome[] {
  const { work, good } = f;
  const clean = new Cleaner(work);
  const rows: Outcome[] = [];
  // The first checkpoint fits in 40 MB, the second does not; the first must survive.
  const fullInput = 'disk full during the 2nd checkpoint (40 MB tmpfs)';
  rows.push(
    onTmpfs(work, 'small-disk', '40m', DISKS, fullInput, (small) => {
      const run = path.join(small, 'run');
      const r = gan(['train', '--epochs', '2', '--limit', '256', '--seed', '1', '--out', run], work);
      const sample = gan(['sample', '--run', run, '--out', f.out('g8.png')], work);
      const survived = sample.code === 0 && /from step-000000004 \(epoch 1\)/.test(sample.stdout);
      return judged(
        {
          table: DISKS,
          input: fullInput,
          command: 'gan train --epochs 2 --limit 256 --out $SMALL/run',
          code: String(r.code),
          message: clean.text(r.stderr),
          disk: survived ? 'checkpoint 1 kept' : 'LOST',
        },
        [
          [oneLine(r.stderr), 'not one line'],
          [
            /the disk is full.*resume with: .*gan train --resume --out/i.test(r.stderr),
            'message does not match /the disk is full ... resume with/',
          ],
          [survived, 'the first checkpoint did not survive'],
        ],
        { code: 1, got: r.code },
      );
    }),
  );
  // A run folder on a read-only file system is refused before any training.
  const roInput = 'resume a run on a read-only file system';
  rows.push(
    onTmpfs(work, 'read-only', '40m', DISKS, roInput, (ro) => {
      fs.cpSync(good, path.join(ro, 'run'), { recursive: true });
      spawnSync('mount', ['-o', 'remount,ro', ro]);
      const before = snapshot(ro);
      const t0 = Date.now();
      const r = gan(['train', '--resume', '--epochs', '3', '--out', path.join(ro, 'run')], work);
      const seconds = (Date.now() - t0) / 1000;
      const unchanged = changes(before, snapshot(ro)).length === 0;
      return judged(
        {
          table: DISKS,
          input: `${roInput} (refused after ${seconds.toFixed(1)} s)`,
          command: 'gan train --resume --epochs 3 --out $RO/run',
          code: String(r.code),
          message: clean.text(r.stderr),
          disk: unchanged ? 'unchanged' : 'CHANGED',
        },
        [
          [oneLine(r.stderr), 'not one line'],
          [/read-only/.test(r.stderr), 'message does not match /read-only/'],
          [unchanged, 'disk changed'],
          [!/epoch 2\//.test(r.stdout), 'it trained before refusing'],
        ],
        { code: 1, got: r.code },
      );
    }),
  );
  return rows;
}

export async function stopRows(f: Fixtures): Promise<Outcome[]> {
  const { work, good } = f;
  const clean = new Cleaner(work);
  const rows: Outcome[] = [];

  // A full disk at the first checkpoint (12 MB: run.json fits, a checkpoint does not), then space
  // freed (the tmpfs grown): the printed hint resumes the run from step 0.
  const tinyInput = 'disk full at the first checkpoint, then space freed; the printed hint run';
  rows.push(
    onTmpfs(work, 'tiny-disk', '12m', STOPS, tinyInput, (tiny) => {
      const run = path.join(tiny, 'run');
      const r = gan([...SMALL_RUN, '--out', run], work);
      spawnSync('mount', ['-o', 'remount,size=80m', tiny]);
      const hint = /[Rr]esume with: (?:npx (?:--prefix \S+ )?)?gan (train --resume --out \S+)/.exec(r.stderr)?.[1];
      const again = hint ? gan(hint.split(' '), work) : undefined;
      const wayOn = again?.code === 0 && /resuming it from step 0/.test(again.stdout);
      return judged(
        {
          table: STOPS,
          input: tinyInput,
          command: `gan train ... --out $W/tiny-disk/run; then the hint`,
          code: `${r.code}, ${again?.code}`,
          message: `${clean.text(r.stderr)} → then: ${
            again
              ? (clean
                  .text(again.stdout)
                  .split(' / ')
                  .find((l) => /step 0/.test(l)) ?? clean.text(again.stderr))
              : 'no hint printed'
          }`,
          disk: wayOn ? 'resumed' : 'NOT resumed',
        },
        [
          [oneLine(r.stderr) && /the disk is full/.test(r.stderr), 'message does not match /the disk is full/'],
          [wayOn, 'the printed hint did not resume the run'],
        ],
        { code: 1, got: r.code },
      );
    }),
  );

  // Ctrl-C twice in epoch 1, before any checkpoint: exit at once; the run resumes.
  {
    const run = f.out('ctrl-c-twice');
    const child = spawn(process.execPath, [BIN, ...SMALL_RUN, '--out', run], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
    child.kill('SIGINT');
    await sleep(1);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const again = gan(['train', '--resume', '--out', run], work);
    rows.push(
      judged(
        {
          table: STOPS,
          input: 'Ctrl-C twice in epoch 1, then gan train --resume',
          command: 'gan train ... --out $W/ctrl-c-twice; SIGINT, SIGINT; then gan train --resume --out $W/ctrl-c-twice',
          code: `${code}, ${again.code}`,
          message: `${clean.text(stderr)} → then: ${
            clean
              .text(again.stdout)
              .split(' / ')
              .find((l) => /resum/.test(l)) ?? clean.text(again.stderr)
          }`,
          disk: again.code === 0 ? 'resumed' : 'NOT resumed',
        },
        [
          [
            // The first SIGINT may finish its step and checkpoint before the second arrives.
            /((SIGINT|Ctrl-C) again: quitting now|stopped by SIGINT at step \d+).*[Rr]esume with: .*gan train --resume --out/.test(stderr),
            'message does not match /Ctrl-C again: quitting now (or stopped by SIGINT) ... resume with/',
          ],
          [again.code === 0, 'the resume failed'],
        ],
        { code: 130, got: code },
      ),
    );
  }

  // A dead end started over in place with gan train --out.
  {
    const run = f.out('dead-end');
    const child = spawn(process.execPath, [BIN, ...SMALL_RUN, '--out', run], { stdio: 'ignore' });
    while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
    const again = gan([...SMALL_RUN, '--out', run], work);
    const said =
      clean
        .text(again.stdout)
        .split(' / ')
        .find((l) => /first checkpoint/.test(l)) ?? clean.text(again.stderr);
    rows.push(
      judged(
        {
          table: STOPS,
          input: 'killed before its first checkpoint, then gan train --out on the same folder',
          command: 'gan train ... --out $W/dead-end (SIGKILL); the same again',
          code: String(again.code),
          message: said,
          disk: 'written',
        },
        [[/starting it over in place/.test(said), 'message does not match /starting it over in place/']],
        { code: 0, got: again.code },
      ),
    );
  }

  rows.push(ttyRow(work));
  rows.push(evalElsewhereRow(f, good));
  return rows;
}

/** A second Ctrl-C on a terminal restores the cursor and line wrap the progress bar turned off. */
function ttyRow(work: string): Outcome {
  const input = 'Ctrl-C twice on a terminal (a pty) while the progress bar shows';
  const py = [
    'import os, pty, signal, sys, time',
    'pid, fd = pty.fork()',
    'if pid == 0:',
    '    os.execv(sys.argv[1], sys.argv[1:])',
    "buf = b''",
    "while b'\x1b[?25l' not in buf:",
    '    buf += os.read(fd, 4096)',
    'os.kill(pid, signal.SIGINT); time.sleep(0.05); os.kill(pid, signal.SIGINT)',
    "after = b''",
    'while True:',
    '    try:',
    '        d = os.read(fd, 4096)',
    '    except OSError:',
    '        break',
    '    if not d: break',
    '    after += d',
    '_, status = os.waitpid(pid, 0)',
    "print(os.waitstatus_to_exitcode(status), int(b'\x1b[?25h' in after), int(b'\x1b[?7h' in after))",
  ].join('\n');
  const args = ['train', '--epochs', '1', '--limit', '60000', '--seed', '3', '--out', path.join(work, 'tty-run')];
  const r = spawnSync('python3', ['-c', py, process.execPath, BIN, ...args], { encoding: 'utf8', cwd: work });
  if (r.status !== 0)
    return skipped(STOPS, input, `python3 with a pty is not available here (${r.error?.message ?? r.stderr.trim().slice(0, 80)})`);
  const [code, cursor, wrap] = r.stdout.trim().split(' ').map(Number);
  return judged(
    {
      table: STOPS,
      input,
      command: 'gan train --epochs 1 --out $W/tty-run; SIGINT, SIGINT',
      code: String(code),
      message: `cursor shown again: ${cursor ? 'yes' : 'NO'}; line wrap on again: ${wrap ? 'yes' : 'NO'}`,
      disk: '',
    },
    [
      [cursor === 1, 'the cursor was not shown again'],
      [wrap === 1, 'line wrap was not turned on again'],
    ],
    { code: 130, got: code },
  );
}

/** gan eval from another folder finds the per-user classifier cache instead of retraining. */
function evalElsewhereRow(f: Fixtures, good: string): Outcome {
  const input = 'gan eval from another folder uses the per-user classifier cache';
  const cache = classifierDir();
  if (!fs.existsSync(path.join(cache, 'info.json')))
    return skipped(STOPS, input, `no classifier cached in ${cache} yet (gan classifier train makes it, in minutes)`);
  const elsewhere = f.out('elsewhere');
  fs.mkdirSync(elsewhere);
  const r = gan(['eval', '--n', '200', '--run', good], elsewhere);
  const retrained = /training the evaluation classifier/.test(r.stdout);
  return judged(
    {
      table: STOPS,
      input: `${input} (${cache.replace(os.homedir(), '~')})`,
      command: 'cd $W/elsewhere && gan eval --n 200 --run $W/good-run',
      code: String(r.code),
      message: retrained ? 'retrained the classifier' : 'used the cached classifier (no retraining)',
      disk: '',
    },
    [[!retrained, 'it retrained the classifier']],
    { code: 0, got: r.code },
  );
}
