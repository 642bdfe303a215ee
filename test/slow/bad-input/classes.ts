/**
 * The rows of issue 19, one table per class of fault that an outside probe found: damaged files
 * that must leave a way on (and the way on is run), sizes bounded by memory, run and data files
 * read as untrusted, odd strings taken as values, paths, stops and servers, and cheap checks first.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Fixtures, allCkpts, newestCkpt, train } from './fixtures';
import { BIN, Cleaner, gan, judged, runSteps, sleep, snapshot, changes, type Outcome, type Step } from './harness';

const DAMAGED = '1. Damaged files: whenever a checkpoint verifies the run goes on; when none does, the printed way on works';
const SIZES = '2. Sizes bounded by memory before anything is allocated';
const UNTRUSTED = '3. Everything read from a run or a data folder is untrusted';
const STRINGS = '4. Empty and odd strings are values, not absences';
const PATHS = '5. Paths: checked before the first write, stored absolute, quoted when printed';
const STOPS = '6. Stops and servers';
const CHEAP = '7. Consistency, and cheap checks first';

type Row = [input: string, args: string[], code: number, expect: RegExp];

const oneLine = (s: string) => s.split('\n').filter(Boolean).length === 1 && !/\n\s+at /.test(s);
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The command a message printed after "...: " (a pasteable hint), as arguments; no quoting is needed for the work folder. */
function printedCommand(text: string): string[] | undefined {
  // The command ends where the prose resumes (" and the settings it had ...").
  const m = /(?:npx (?:--prefix \S+ )?)?gan (train .*?)(?: and [a-z ].*)?$/.exec(text.trim());
  return m?.[1].split(' ');
}

export function damagedRows(f: Fixtures): Outcome[] {
  const { work } = f;
  const deleted = f.damaged('json-deleted', (r) => fs.rmSync(path.join(r, 'run.json')), f.two);
  const cut = f.damaged(
    'json-cut',
    (r) => {
      const file = path.join(r, 'run.json');
      const text = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, text.slice(0, text.length >> 1));
    },
    f.two,
  );
  const array = f.runJson('json-array', () => [1, 2, 3]);
  const otherSeed = f.runJson('json-other-seed', (i) => ((i.config.seed = 99), i));
  // What a `--resume --epochs 2` killed before its first new checkpoint leaves: run.json says 2, the checkpoint 1.
  const killedLonger = f.runJson('json-says-2-epochs', (i) => ((i.config.epochs = 2), i));
  const rebuilt = /run\.json .*rebuilt from .*state\.json/;
  const rows: Row[] = [
    ['run.json deleted, both checkpoints intact', ['train', '--resume', '--epochs', '3', '--out', deleted], 0, rebuilt],
    ['run.json cut in half', ['train', '--resume', '--epochs', '3', '--out', cut], 0, rebuilt],
    ['run.json a JSON array', ['train', '--resume', '--epochs', '2', '--out', array], 0, rebuilt],
    [
      'run.json with another seed than its checkpoint',
      ['train', '--resume', '--epochs', '2', '--out', otherSeed],
      0,
      /resuming .*json-other-seed/,
    ],
    [
      'a killed --resume --epochs 2 (run.json says 2, the checkpoint 1), then a plain --resume',
      ['train', '--resume', '--out', killedLonger],
      0,
      /epochs 2\.\.2/,
    ],
  ];
  const out = rows.map(([input, args, code, expect]) => runSteps(DAMAGED, input, [{ args, code, expect, mayWrite: code === 0 }], work));

  // Every checkpoint damaged: refused with a command that starts it over in place; that command is run.
  const allBad = f.damaged(
    'all-damaged',
    (r) => {
      for (const c of allCkpts(r)) {
        const file = path.join(c, 'generator', 'weights.bin');
        fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
      }
    },
    f.two,
  );
  out.push(
    pasteRow(
      work,
      'every checkpoint damaged; the printed command run',
      ['train', '--resume', '--epochs', '3', '--out', allBad],
      /no checkpoint of .* verifies/,
      /starting it over in place/,
    ),
  );
  // The same with run.json gone too: the settings then come from nowhere but the damaged state.json.
  const nothing = f.damaged('all-damaged-no-json', (r) => {
    fs.rmSync(path.join(r, 'run.json'));
    const sf = path.join(newestCkpt(r), 'state.json');
    fs.writeFileSync(sf, fs.readFileSync(sf, 'utf8').slice(0, 50));
  });
  out.push(
    pasteRow(
      work,
      'the only checkpoint damaged and run.json deleted; the printed command run, with the settings it had as it asks',
      ['train', '--resume', '--out', nothing],
      /no checkpoint of .* verifies.*and the settings it had/,
      /starting it over in place/,
      ['--epochs', '1', '--limit', '256', '--seed', '1'],
    ),
  );
  out.push(...checkpointAndLockRows(f));
  return out;
}

/**
 * A refusal whose message ends in a pasteable command, and that command run: it must work
 * (exit 0, saying `then`), the damaged files kept aside, not deleted.
 */
function pasteRow(work: string, input: string, args: string[], refused: RegExp, then: RegExp, settings: string[] = []): Outcome {
  const clean = new Cleaner(work);
  const run = args[args.indexOf('--out') + 1];
  const before = snapshot(run);
  const r = gan(args, work);
  const unchanged = changes(before, snapshot(run)).length === 0;
  const hint = printedCommand(r.stderr);
  const again = hint ? gan([...hint, ...settings], work) : undefined;
  const kept = fs.readdirSync(run).some((n) => /^damaged-\d+$/.test(n));
  return judged(
    {
      table: DAMAGED,
      input,
      command: `${clean.args(args)}; then the printed command`,
      code: `${r.code}, ${again?.code}`,
      message: `${clean.text(r.stderr)} → then: ${
        again
          ? (clean
              .text(again.stdout)
              .split(' / ')
              .find((l) => then.test(l)) ?? clean.text(again.stderr))
          : 'no command printed'
      }`,
      disk: unchanged ? (kept ? 'unchanged, then started over (damaged files kept)' : 'unchanged, then NOT kept') : 'CHANGED',
    },
    [
      [oneLine(r.stderr) && refused.test(r.stderr), `message does not match ${refused}`],
      [unchanged, 'the refusal changed the disk'],
      [again?.code === 0 && then.test(again.stdout), 'the printed command did not work'],
      [kept, 'the damaged files were not kept in damaged-N'],
    ],
    { code: 1, got: r.code },
  );
}

/** Damaged state.json and weights beside a good checkpoint, and every kind of stale or odd lock. */
function checkpointAndLockRows(f: Fixtures): Outcome[] {
  const { work } = f;
  const newestState = f.damaged(
    'newest-state-cut',
    (r) => {
      const sf = path.join(newestCkpt(r), 'state.json');
      fs.writeFileSync(sf, fs.readFileSync(sf, 'utf8').slice(0, 200));
    },
    f.two,
  );
  const newestWeights = f.damaged(
    'newest-weights-flipped',
    (r) => {
      const wf = path.join(newestCkpt(r), 'discriminator', 'weights.bin');
      const b = fs.readFileSync(wf);
      b[100] ^= 1;
      fs.writeFileSync(wf, b);
    },
    f.two,
  );
  const lock = (name: string, write: (file: string) => void) =>
    f.damaged(name, (r) => {
      const file = path.join(r, 'train.lock');
      write(file);
      // Older than the 2 s an unwritten lock is given.
      if (fs.statSync(file).isFile()) fs.utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    });
  const emptyLock = lock('lock-empty', (file) => fs.writeFileSync(file, ''));
  const garbageLock = lock('lock-garbage', (file) => fs.writeFileSync(file, 'zzz{'));
  const deadLock = lock('lock-dead-pid', (file) =>
    fs.writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 11, host: os.hostname(), startedAt: 'then' })),
  );
  const rows: Row[] = [
    [
      'the newest state.json cut, an older checkpoint intact',
      ['train', '--resume', '--epochs', '3', '--out', newestState],
      0,
      /skipped a damaged checkpoint.*state\.json|resuming .* from step-000000004/,
    ],
    [
      'the newest weights altered by one bit, an older checkpoint intact',
      ['train', '--resume', '--epochs', '3', '--out', newestWeights],
      0,
      /resuming .* from step-000000004/,
    ],
    ['train.lock empty (a writer killed as it made it)', ['train', '--resume', '--epochs', '2', '--out', emptyLock], 0, /resuming /],
    ['train.lock not JSON', ['train', '--resume', '--epochs', '2', '--out', garbageLock], 0, /resuming /],
    ['train.lock of a process that is gone', ['train', '--resume', '--epochs', '2', '--out', deadLock], 0, /resuming /],
  ];
  const out = rows.map(([input, args, code, expect]) => runSteps(DAMAGED, input, [{ args, code, expect, mayWrite: true }], work));
  // Locks only the user can judge: refused with the command that clears them; that command run, then the resume.
  const folderLock = lock('lock-folder', (file) => fs.mkdirSync(file));
  const foreignLock = lock('lock-other-host', (file) =>
    fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'then' })),
  );
  for (const [input, run] of [
    ['train.lock a folder', folderLock],
    ['train.lock of a process on another host', foreignLock],
  ] as const) {
    out.push(removeLockRow(work, input, run));
  }
  return out;
}

/** A lock refused with an rm command: the command run in a shell, then the same resume works. */
function removeLockRow(work: string, input: string, run: string): Outcome {
  const clean = new Cleaner(work);
  const args = ['train', '--resume', '--epochs', '2', '--out', run];
  const before = snapshot(run);
  const r = gan(args, work);
  const unchanged = changes(before, snapshot(run)).length === 0;
  const rm = /remove (?:the lock|it [^:]*): (rm .*)$/i.exec(r.stderr.trim())?.[1];
  const removed = rm ? spawnSync('sh', ['-c', rm], { cwd: work }).status === 0 : false;
  const again = removed ? gan(args, work) : undefined;
  return judged(
    {
      table: DAMAGED,
      input,
      command: `${clean.args(args)}; then the printed rm; then the same again`,
      code: `${r.code}, ${again?.code}`,
      message: `${clean.text(r.stderr)} → then: ${
        again
          ? (clean
              .text(again.stdout)
              .split(' / ')
              .find((l) => /resuming/.test(l)) ?? clean.text(again.stderr))
          : 'no rm printed'
      }`,
      disk: unchanged ? 'unchanged, then resumed' : 'CHANGED',
    },
    [
      [oneLine(r.stderr) && rm !== undefined, 'no one-line message with an rm command'],
      [unchanged, 'the refusal changed the disk'],
      [again?.code === 0 && /resuming /.test(again.stdout), 'the resume after the rm did not work'],
    ],
    { code: 1, got: r.code },
  );
}

export function sizeRows(f: Fixtures): Outcome[] {
  const { work } = f;
  const huge = f.stateEdit('stored-huge', (s) => (s.config.generatorHidden = [65536, 65536, 65536]), true);
  const hugeBatch = f.stateEdit('stored-huge-batch', (s) => (s.config.batchSize = 1e9), true);
  const tooBig = /needs about [\d.]+ GiB, more than [\d.]+ GiB/;
  const rows: Row[] = [
    ['a 3 x 65536 generator (17 GB)', ['train', '--generator-hidden', '65536,65536,65536', '--out', f.out('big1')], 2, tooBig],
    ['a generator of 8 x 16384', ['train', '--generator-hidden', Array(8).fill(16384).join(','), '--out', f.out('big2')], 2, tooBig],
    [
      'a DCGAN at batch 60000',
      ['train', '--arch', 'dcgan', '--channels', '128', '--batch-size', '60000', '--out', f.out('big3')],
      2,
      tooBig,
    ],
    [
      'a latent of 100000',
      ['train', '--latent-dim', '100000', '--out', f.out('big4')],
      2,
      /--latent-dim must be a whole number from 1 to 4096/,
    ],
    ['a stored 3 x 65536 generator (re-sealed state.json)', ['sample', '--run', huge, '--out', f.out('big.png')], 1, tooBig],
    [
      'a stored batch of 1e9 (re-sealed state.json)',
      ['train', '--resume', '--epochs', '2', '--out', hugeBatch],
      1,
      /batchSize is 1000000000, not a whole number/,
    ],
  ];
  return rows.map(([input, args, code, expect]) => runSteps(SIZES, input, [{ args, code, expect }], work));
}

export function untrustedRows(f: Fixtures): Outcome[] {
  const { work } = f;
  const labels200 = f.dataDir('labels-200', 128, (l) => (l[5] = 200));
  const labelsShort = f.out('labels-short');
  fs.mkdirSync(labelsShort);
  fs.copyFileSync(
    path.join(
      f.dataDir('labels-full', 128, () => {}),
      'train-images-idx3-ubyte',
    ),
    path.join(labelsShort, 'train-images-idx3-ubyte'),
  );
  fs.copyFileSync(
    path.join(
      f.dataDir('labels-64', 64, () => {}),
      'train-labels-idx1-ubyte',
    ),
    path.join(labelsShort, 'train-labels-idx1-ubyte'),
  );
  const rows: Row[] = [
    [
      'a label of 200 in a data folder, --conditional',
      ['train', '--conditional', '--data', labels200, '--out', f.out('l200')],
      1,
      /label of image 5 is 200, not a digit 0-9/,
    ],
    [
      '64 labels for 128 images, --conditional',
      ['train', '--conditional', '--data', labelsShort, '--out', f.out('l64')],
      1,
      /64 labels?.*128 images|128 images.*64 labels?/,
    ],
  ];
  const out = rows.map(([input, args, code, expect]) => runSteps(UNTRUSTED, input, [{ args, code, expect }], work));

  // Hostile text and odd values in metrics.jsonl and run.json: the report is written, script-free.
  const hostile = f.damaged('hostile', (r) => {
    const m = path.join(r, 'metrics.jsonl');
    fs.appendFileSync(
      m,
      [
        '{"epoch": "two", "lossD": "NaN", "lossG": {"x": 1}}',
        'not json at all',
        '{"epoch": 2, "lossD": 1e999, "lossG": -1, "note": "<script>alert(1)</script>"}',
        '{"epoch": 3, "lossD": 0.5, "lossG": 0.7, "dReal": 0.5, "dFake": 0.5, "seconds": "</td><script>x()</script>"}',
      ].join('\n') + '\n',
    );
    const rj = path.join(r, 'run.json');
    const info = JSON.parse(fs.readFileSync(rj, 'utf8'));
    info.createdAt = '<img src=x onerror=alert(1)>';
    info.config.note = '<script>alert(2)</script>';
    fs.writeFileSync(rj, JSON.stringify(info));
  });
  const r = runSteps(
    UNTRUSTED,
    'metrics.jsonl and run.json with non-numbers and <script> text; gan report',
    [{ args: ['report', '--run', hostile], code: 0, expect: /report/ }],
    work,
  );
  const html = fs.existsSync(path.join(hostile, 'report.html')) ? fs.readFileSync(path.join(hostile, 'report.html'), 'utf8') : '';
  const scriptFree = html !== '' && !/<script|onerror=|<img src=x/i.test(html);
  out.push(
    scriptFree || r.status !== 'passed'
      ? { ...r, disk: `${r.disk}; report.html script-free` }
      : { ...r, status: 'failed', why: "report.html carries the run's text unescaped", disk: `${r.disk}; report.html NOT script-free` },
  );
  return out;
}

export function stringRows(f: Fixtures): Outcome[] {
  const { work, good } = f;
  const rows: Row[] = [
    ["--out ''", ['train', '--out', ''], 2, /--out must be a non-empty path, got ''/],
    ["--samples ''", ['eval', '--samples', ''], 2, /--samples must be a non-empty path/],
    ["--run ''", ['sample', '--run', ''], 2, /--run must be a non-empty path/],
    ["--data ''", ['train', '--data', '', '--out', f.out('s1')], 2, /--data must be a non-empty path/],
    [
      '--lr 0x10 (a float flag takes no hexadecimal)',
      ['train', '--lr', '0x10', '--out', f.out('s2')],
      2,
      /--lr must be a number in \(0, 1\), got '0x10'/,
    ],
    ['--epochs 0x10', ['train', '--epochs', '0x10', '--out', f.out('s3')], 2, /--epochs must be a whole number/],
    ["--lr ' '", ['train', '--lr', ' ', '--out', f.out('s4')], 2, /--lr must be a number/],
    [
      'an MLP-only flag with --arch dcgan',
      ['train', '--arch', 'dcgan', '--generator-hidden', '64', '--out', f.out('s5')],
      2,
      /--generator-hidden is a setting of --arch mlp.*--arch dcgan/,
    ],
    ['a DCGAN-only flag with the MLP', ['train', '--channels', '8', '--out', f.out('s6')], 2, /--channels is a setting of --arch dcgan/],
    ['an unknown command', ['trian', '--epochs', '1'], 2, /unknown command 'trian'/],
    ["--seed '1e3'", ['sample', '--run', good, '--seed', '1e3', '--out', f.out('s7.png')], 2, /--seed must be a whole number/],
  ];
  const out = rows.map(([input, args, code, expect]) => runSteps(STRINGS, input, [{ args, code, expect }], work));
  // No command at all: the usage, as a usage error (exit 2, as commander does for the others).
  const before = snapshot(work);
  const r = gan([], work);
  out.push(
    judged(
      {
        table: STRINGS,
        input: 'no command',
        command: 'gan',
        code: String(r.code),
        message: r.stderr.split('\n')[0],
        disk: changes(before, snapshot(work)).length ? 'CHANGED' : 'unchanged',
      },
      [[/^Usage: gan/.test(r.stderr), 'the usage is not printed on stderr']],
      { code: 2, got: r.code },
    ),
  );
  return out;
}

export function pathRows(f: Fixtures): Outcome[] {
  const { work, good } = f;
  const longName = 'n'.repeat(300);
  const deep = path.join(work, ...Array.from({ length: 370 }, () => 'abcdefghij'));
  const spaced = f.damaged('my run', () => {});
  // Trained from one folder on a relative --data, resumed from another.
  const home = f.out('home');
  fs.mkdirSync(home);
  fs.cpSync(f.dataDir('rel-data-src', 128), path.join(home, 'mydata'), { recursive: true });
  const rel = path.join(home, 'rel-run');
  const t = gan(['train', '--seed', '1', '--epochs', '1', '--data', 'mydata', '--out', 'rel-run'], home);
  if (t.code !== 0) throw new Error(`training the relative --data fixture failed: ${t.stderr}`);
  const rows: Array<[string, Step]> = [
    [
      'a 300-byte folder name for --out',
      {
        args: ['train', '--out', path.join(work, longName)],
        code: 2,
        expect: /the name .* is 300 bytes; a file or folder name may have 255/,
      },
    ],
    [
      'a 4,074-byte --out path',
      {
        args: ['train', '--out', deep],
        code: 2,
        expect: /the path is 4\d{3} bytes, and the files written under it need up to \d+ more; a path may have 4095/,
      },
    ],
    [
      'an --out whose name is too long for export --web',
      { args: ['export', '--run', good, '--web', path.join(work, longName)], code: 2, expect: /--web cannot be used: the name/ },
    ],
    [
      'a legal 250-byte file name for sample --out',
      {
        args: ['sample', '--run', good, '--out', path.join(work, 'g'.repeat(246) + '.png')],
        code: 0,
        expect: /wrote a grid of 64 samples/,
      },
    ],
    [
      '--data naming a file',
      {
        args: ['train', '--data', path.join(good, 'run.json'), '--out', f.out('p1')],
        code: 1,
        expect: /--data .*run\.json is a file, not a folder.*--data .*good-run/,
      },
    ],
    [
      'a relative --data, resumed from another folder',
      { args: ['train', '--resume', '--epochs', '2', '--out', rel], code: 0, expect: /resuming .*rel-run/ },
    ],
    [
      'a run folder with a space: the hint quotes it',
      { args: ['train', '--resume', '--out', spaced], code: 2, expect: /--out '[^']*my run' --epochs 2/ },
    ],
  ];
  return rows.map(([input, step]) => runSteps(PATHS, input, [step], work));
}

/** Starts a command, waits for `ready` on its output, sends `signals` and returns its exit and output. */
async function signalled(args: string[], cwd: string, ready: (out: string) => boolean, signals: NodeJS.Signals[]) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const t0 = Date.now();
  while (!ready(stdout) && child.exitCode === null && Date.now() - t0 < 120_000) await sleep(20);
  for (const s of signals) child.kill(s);
  return { code: await exited, stdout: stdout.trim(), stderr: stderr.trim() };
}

export async function stopRows(f: Fixtures): Promise<Outcome[]> {
  const { work, good } = f;
  const clean = new Cleaner(work);
  const out: Outcome[] = [];
  const site = exportedSite(work, good);

  // A closed terminal mid-epoch: the step finishes, a checkpoint is written, the hint resumes it.
  const run = f.out('hangup');
  const args = ['train', '--epochs', '1', '--limit', '4096', '--batch-size', '16', '--seed', '3', '--log-every', '1', '--out', run];
  const r = await signalled(args, work, (o) => /step \d+/.test(o), ['SIGHUP']);
  const hint = /Resume with: (?:npx (?:--prefix \S+ )?)?gan (train --resume --out \S+)/.exec(r.stderr)?.[1];
  const again = hint ? gan(hint.split(' '), work) : undefined;
  out.push(
    judged(
      {
        table: STOPS,
        input: 'the terminal closed (SIGHUP) mid-epoch; then the printed hint',
        command: 'gan train ... --out $W/hangup; SIGHUP; then the hint',
        code: `${r.code}, ${again?.code}`,
        message: `${clean.text(r.stderr).split(' / ').at(-1)} → then: ${
          again
            ? (clean
                .text(again.stdout)
                .split(' / ')
                .find((l) => /resuming/.test(l)) ?? clean.text(again.stderr))
            : 'no hint'
        }`,
        disk: again?.code === 0 ? 'checkpoint written, resumed' : 'NOT resumed',
      },
      [
        [
          /stopped by SIGHUP at step \d+; checkpoint .*Resume with: /.test(r.stderr),
          'message does not match /stopped by SIGHUP at step N; checkpoint ... Resume with/',
        ],
        [again?.code === 0 && /resuming .*hangup from step-/.test(again.stdout), 'the printed hint did not resume from the checkpoint'],
      ],
      { code: 129, got: r.code },
    ),
  );

  // gan serve stopped by each signal exits as the shell expects (128 + the signal's number).
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    const s = await signalled(['serve', '--web', site, '--port', '0'], work, (o) => /open http/.test(o), [sig]);
    out.push(
      judged(
        {
          table: STOPS,
          input: `gan serve stopped by ${sig}`,
          command: `gan serve --web $W/site --port 0; ${sig}`,
          code: String(s.code),
          message: clean.text(s.stdout).split(' / ').at(-1)!,
          disk: 'unchanged',
        },
        [[new RegExp(`stopped by ${sig}`).test(s.stdout), `does not say it stopped by ${sig}`]],
        { code, got: s.code },
      ),
    );
  }

  // Only loopback unless told otherwise in words.
  const hosts: Row[] = [
    [
      'serve on 0.0.0.0 without --public',
      ['serve', '--run', good, '--host', '0.0.0.0', '--port', '0'],
      2,
      /--host 0\.0\.0\.0 would let other machines reach the page.*--public/,
    ],
    [
      'serve on :: without --public',
      ['serve', '--run', good, '--host', '::', '--port', '0'],
      2,
      /--host :: would let other machines reach/,
    ],
    [
      'serve on a name that does not resolve',
      ['serve', '--run', good, '--host', 'no-such-host.invalid', '--port', '0'],
      2,
      /cannot listen on --host no-such-host\.invalid/,
    ],
  ];
  out.push(...hosts.map(([input, a, code, expect]) => runSteps(STOPS, input, [{ args: a, code, expect }], work)));
  for (const [host, pub, want] of [
    ['localhost', false, /open http:\/\/127\.0\.0\.1:\d+\//],
    ['0.0.0.0', true, /--public: any machine that can reach this one/],
  ] as const) {
    const a = ['serve', '--web', site, '--host', host, '--port', '0', ...(pub ? ['--public'] : [])];
    const s = await signalled(a, work, (o) => /open http/.test(o), ['SIGINT']);
    out.push(
      judged(
        {
          table: STOPS,
          input: `serve on ${host}${pub ? ' with --public' : ''}`,
          command: clean.args(a),
          code: String(s.code),
          message:
            clean
              .text(s.stdout)
              .split(' / ')
              .find((l) => want.test(l)) ?? clean.text(s.stdout),
          disk: 'unchanged',
        },
        [[want.test(s.stdout), `output does not match ${want}`]],
        { code: 130, got: s.code },
      ),
    );
  }
  return out;
}

export function cheapRows(f: Fixtures): Outcome[] {
  const { work } = f;
  const missing = f.out('MISSING');
  const rows: Array<[string, string[]]> = [
    ['eval --run of a folder that does not exist', ['eval', '--run', missing]],
    ['sample --run of a folder that does not exist', ['sample', '--run', missing]],
    ['export --run of a folder that does not exist', ['export', '--run', missing, '--web', f.out('site-x')]],
    ['serve --run of a folder that does not exist', ['serve', '--run', missing, '--port', '0']],
  ];
  const out = rows.map(([input, args]) => {
    const t0 = Date.now();
    const r = runSteps(CHEAP, input, [{ args, code: 1, expect: /run folder .*MISSING does not exist/ }], work);
    const seconds = (Date.now() - t0) / 1000;
    // Before any backend loads (about a second) and before the classifier trains (minutes).
    const fast = seconds < 3;
    return fast || r.status !== 'passed'
      ? { ...r, input: `${input} (${seconds.toFixed(2)} s)` }
      : { ...r, input: `${input} (${seconds.toFixed(2)} s)`, status: 'failed' as const, why: 'refused only after slow work' };
  });
  out.push(
    runSteps(
      CHEAP,
      'eval --run of a folder that is no run',
      [{ args: ['eval', '--run', f.out('home')], code: 1, expect: /is not a run folder/ }],
      work,
    ),
  );

  // A run that kept an EMA generator: the page runs the generator gan sample draws from.
  const ema = train(work, 'ema-run', ['--epochs', '1', '--limit', '256', '--ema', '0.5']);
  const site = f.out('ema-site');
  const r = runSteps(
    CHEAP,
    'export of a run trained with --ema',
    [{ args: ['export', '--run', ema, '--web', site], code: 0, expect: /EMA generator/ }],
    work,
  );
  const same =
    fs.existsSync(path.join(site, 'model', 'weights.bin')) &&
    sha(path.join(site, 'model', 'weights.bin')) === sha(path.join(newestCkpt(ema), 'ema_generator', 'weights.bin'));
  out.push(
    same ? { ...r, disk: `${r.disk}: the EMA weights` } : { ...r, status: 'failed', why: 'the page does not carry the EMA generator' },
  );
  return out;
}

/** A site for the serve rows: an export of the 1-epoch run. */
export function exportedSite(work: string, run: string): string {
  const site = path.join(work, 'site');
  const r = spawnSync(process.execPath, [BIN, 'export', '--run', run, '--web', site], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exporting the fixture site failed: ${r.stderr}`);
  return site;
}
