/**
 * Every gan command the program prints for the user to paste, pasted: a set of scenarios (a
 * finished run, a refused resume, a folder that holds a run, an interrupted run, a run with no
 * metrics yet, an export, a folder with no runs, a usage error) each print their hints, and each
 * hint runs in `sh -c` from the folder the user was in: the clone's folder (where hints say
 * `npx gan`), or another folder (where they say `npx --prefix CLONE gan`). A hint passes when it
 * exits 0, or does what it should lead to: a refusal that names the next step, a training run
 * that starts (stopped with Ctrl-C), a server that serves.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { ganInvocation } from '../src/util/invocation';

const CLONE = path.resolve(__dirname, '..', '..');
const ENV = { ...process.env, DEBUG: '' };

/**
 * A scenario's command, typed as the README says: `npx gan ...` in the clone's folder, `npx
 * --prefix CLONE gan ...` elsewhere (run by npx, gan must not take npx's own PATH for the user's).
 */
function gan(args: string[], cwd: string) {
  const npx = cwd === CLONE ? ['gan'] : ['--prefix', CLONE, 'gan'];
  const r = spawnSync('npx', [...npx, ...args], { encoding: 'utf8', cwd, env: ENV });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A pasted command line, run as a shell runs it. */
function paste(line: string, cwd: string) {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8', cwd, env: ENV, timeout: 240_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

/**
 * The gan commands in a command's output, as a reader copies them: from the invocation to the
 * last shell word. Bare words never end in '.', ',' or ':' (shellQuote quotes those), so such a
 * character ends the command, as does anything that is not a word (';', ')', '`', the line's end).
 */
export function hintsIn(output: string, invocation: string): string[] {
  const word = /^ ('(?:[^']|'\\'')*'|[A-Za-z0-9_\-./=:,@%+]+)/;
  const found: string[] = [];
  for (let at = output.indexOf(invocation); at >= 0; at = output.indexOf(invocation, at + 1)) {
    let rest = output.slice(at + invocation.length);
    const words: string[] = [];
    for (let m = word.exec(rest); m; m = word.exec(rest)) {
      const w = m[1].startsWith("'") ? m[1] : m[1].replace(/[.,:]+$/, '');
      words.push(w);
      if (w !== m[1]) break;
      rest = rest.slice(m[0].length);
    }
    // A bare invocation or one followed by a placeholder (`gan <command> --help`) is prose.
    if (words.length && !rest.startsWith(' <')) found.push([invocation, ...words].join(' '));
  }
  return found;
}

/**
 * Runs a long command (a training run from scratch, a server) until `ready` shows, then calls
 * `act` and waits for it to exit; with `interrupt`, Ctrl-C goes to the whole command first.
 */
async function pasteUntil(line: string, cwd: string, ready: RegExp, act: (out: string) => Promise<void>, interrupt = false) {
  const child = spawn('sh', ['-c', line], { cwd, env: ENV, detached: true });
  let out = '';
  const code = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${ready} within 180 s from ${line}: ${out}`)), 180_000);
    const look = (d: Buffer) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', () => (ready.test(out) ? undefined : (clearTimeout(timer), reject(new Error(`exited before ${ready}: ${out}`)))));
  });
  await act(out);
  if (interrupt) process.kill(-child.pid!, 'SIGINT');
  return { code: await code, out };
}

/** Where `gan sample` said it wrote, so the test removes what it made in the clone's folder. */
function removeWritten(out: string, cwd: string): void {
  const m = / to (\S+?)( \(replaced[^)]*\))?\n/.exec(out);
  if (m && !m[2]) fs.rmSync(path.resolve(cwd, m[1]), { force: true });
}

interface Printed {
  scenario: string;
  cwd: string;
  hints: string[];
}

/** Runs the scenarios in `work` and collects the hints each printed, with the folder the user was in. */
async function printedHints(work: string, here: string, elsewhere: string): Promise<Printed[]> {
  const run = path.join(work, 'run');
  const small = ['--epochs', '1', '--limit', '256', '--seed', '3'];
  const printed: Printed[] = [];
  const scenario = (name: string, r: { out: string }, cwd = CLONE) => {
    const hints = hintsIn(r.out, cwd === CLONE ? here : elsewhere);
    assert.ok(hints.length > 0, `${name}: no hint in ${r.out}`);
    printed.push({ scenario: name, cwd, hints });
  };
  scenario('a finished run', gan(['train', ...small, '--out', run], CLONE));
  scenario('a resume refused: nothing left to train', gan(['train', '--resume', '--out', run], CLONE));
  scenario('--out holds a run', gan(['train', ...small, '--out', run], CLONE));
  scenario('a usage error', gan(['train', '--epoch', '1'], CLONE));
  fs.mkdirSync(path.join(work, 'fresh'));
  fs.copyFileSync(path.join(run, 'run.json'), path.join(work, 'fresh', 'run.json'));
  scenario('a report of a run with no metrics yet', gan(['report', '--run', path.join(work, 'fresh')], CLONE));
  scenario('an export', gan(['export', '--web', path.join(work, 'site'), '--run', run], CLONE));
  const empty = path.join(work, 'empty');
  fs.mkdirSync(path.join(empty, 'checkpoints'), { recursive: true });
  scenario('an empty checkpoints folder, elsewhere', gan(['sample'], empty), empty);

  // Interrupted with Ctrl-C after its first steps (sent to gan, whose pid its lock holds).
  const interrupted = path.join(work, 'interrupted');
  const long = ['--epochs', '1', '--limit', '2048', '--batch-size', '8', '--seed', '3', '--log-every', '1'];
  const child = spawn('npx', ['gan', 'train', ...long, '--out', interrupted], { cwd: CLONE, env: ENV });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d) => {
    out += d;
    if (!sent && /step \d+/.test(out)) {
      sent = true;
      process.kill(JSON.parse(fs.readFileSync(path.join(interrupted, 'train.lock'), 'utf8')).pid, 'SIGINT');
    }
  });
  child.stderr.on('data', (d) => (out += d));
  await new Promise((r) => child.on('exit', r));
  assert.match(out, /stopped by SIGINT/);
  scenario('an interrupted run', { out });
  return printed;
}

/** Pastes one hint where it was printed; returns what it did, or throws. */
async function pasteHint(hint: string, cwd: string, where: string): Promise<string> {
  if (/ serve /.test(hint)) {
    // A server: it serves the page (or names another port when 8080 is taken).
    const r = await pasteUntil(
      hint,
      cwd,
      /open http:\S+|is in use/,
      async (o) => {
        const url = /open (http:\S+)/.exec(o)?.[1];
        if (url) assert.match(await (await fetch(url)).text(), /<title>gan<\/title>/, where);
      },
      true,
    );
    assert.match(r.out, /open http:|port 8080 .* is in use.*--port/, where);
    return /open http:\S+|is in use/.exec(r.out)![0];
  }
  if (/ train$/.test(hint)) {
    // A training run from scratch (50 epochs): it starts; Ctrl-C stops it with a checkpoint.
    const r = await pasteUntil(hint, cwd, /^run \S+: /m, async () => {
      const lock = path.join(cwd, 'checkpoints', 'run-001', 'train.lock');
      process.kill(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, 'SIGINT');
    });
    assert.match(r.out, /stopped by SIGINT at step \d+.*Resume with: /, where);
    return 'started, stopped by Ctrl-C';
  }
  const r = paste(hint, cwd);
  if (/ sample /.test(hint)) removeWritten(r.out, cwd);
  // Resuming a run that has finished: refused, with the command that trains it further.
  const followUp = / --resume /.test(hint) && / --epochs /.test(r.out) && r.code === 2;
  assert.ok(r.code === 0 || followUp, `${where} -> exit ${r.code}: ${r.out}`);
  return `exit ${r.code}${followUp ? ' (refused, naming --epochs)' : ''}`;
}

test('every printed hint, pasted into a shell where the user is, runs', { timeout: 900_000 }, async (t) => {
  const work = tmpDir('gan-hints-');
  const here = ganInvocation(CLONE);
  const elsewhere = ganInvocation(work);
  // With gan on PATH (npm link) every hint says plain `gan`, which prose says too: the npx forms are what this reads.
  if (here === 'gan') return t.skip('gan is on PATH here (npm link): the hints say plain gan');
  assert.equal(here, 'npx gan', 'inside the clone, without gan on PATH');
  assert.match(elsewhere, /^npx --prefix \S+ gan$/);

  const seen = new Set<string>();
  for (const { scenario, cwd, hints } of await printedHints(work, here, elsewhere)) {
    for (const hint of hints.filter((h) => !seen.has(h))) {
      seen.add(hint);
      t.diagnostic(`${scenario}: ${hint} -> ${await pasteHint(hint, cwd, `${scenario}: ${hint}`)}`);
    }
  }
  // At least the sample, resume, --epochs, serve, train, doctor and --help hints were among them.
  for (const kind of [' sample --run ', ' train --resume --out ', ' --epochs 2', ' serve --web ', ' doctor', ' --help'])
    assert.ok(
      [...seen].some((h) => h.includes(kind)),
      `no hint with '${kind}' among ${[...seen].join('\n')}`,
    );
  assert.ok(
    [...seen].some((h) => h.endsWith(' gan train')),
    'the empty folder says how to train',
  );
});

test('hintsIn: a command ends where its words end', () => {
  const text = [
    "gan: error: r already holds a run. Continue it with: npx gan train --resume --out 'my runs/r1'; or choose another --out",
    'sample it with: npx gan sample --run checkpoints/run-001',
    'For the flags: npx gan --help, or npx gan <command> --help',
    'Train one with: npx gan train; or pass --run DIR',
    "e.g.: npx gan train --resume --out 'run.' --epochs 2.",
  ].join('\n');
  assert.deepEqual(hintsIn(text, 'npx gan'), [
    "npx gan train --resume --out 'my runs/r1'",
    'npx gan sample --run checkpoints/run-001',
    'npx gan --help',
    'npx gan train',
    "npx gan train --resume --out 'run.' --epochs 2",
  ]);
});
