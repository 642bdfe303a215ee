/**
 * What the commands print, in its pure parts: the progress line fitted to a terminal's width, the
 * run's ETA, the command form of hints, the report's configuration rows, conditional samples in
 * equal shares, and gan train's progress on a real pseudo-terminal at 80 and 120 columns.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { fitLine, formatDuration, runEtaSeconds, trainLineParts } from '../src/commands/progress';
import { ganInvocation, shellQuote } from '../src/util/invocation';
import { plural } from '../src/util/text';
import { configRows } from '../src/report/config-rows';
import { resolveTrainConfig } from '../src/config';
import { digitColumns, equalShares, sampleLabels } from '../src/core/labels';
import type { ProgressInfo } from '../src/train/types';

const CLONE = path.resolve(__dirname, '..', '..');
const BIN = path.join(CLONE, 'bin', 'gan.js');

const progress: ProgressInfo = {
  epoch: 3,
  iteration: 412,
  itersPerEpoch: 938,
  step: 2288,
  means: { d_loss: 1.342, g_loss: 0.823, d_real: 0.551, d_fake: 0.453 },
  itPerSec: 21.4,
};

test('the train line fits the width: the bar shrinks, then D(G(z)), it/s, D(x) and the bar go; the losses and the ETA stay', () => {
  const wide = fitLine(trainLineParts(progress, 50), 200);
  assert.match(wide, /^epoch 3\/50 .* 412\/938 21\.4 it\/s ETA \d+m\d\ds d_loss 1\.342 g_loss 0\.823 D\(x\) 0\.551 D\(G\(z\)\) 0\.453$/);
  for (const width of [119, 79, 60]) {
    const line = fitLine(trainLineParts(progress, 50), width);
    assert.ok(line.length <= width, `${width}: ${line.length} characters`);
    assert.match(line, /d_loss 1\.342 g_loss 0\.823/, `${width}: ${line}`);
    assert.match(line, /ETA /, `${width}: ${line}`);
  }
  // 80 columns: the bar, D(x) and the losses; D(G(z)) and it/s gave way.
  assert.match(fitLine(trainLineParts(progress, 50), 79), /\u2588.*D\(x\)/);
  assert.doesNotMatch(fitLine(trainLineParts(progress, 50), 79), /D\(G\(z\)\)|it\/s/);
  assert.doesNotMatch(fitLine(trainLineParts(progress, 50), 60), /it\/s|\u2588|\u2591/);
  // Narrower than the parts that stay: cut, never wrapped.
  assert.equal(fitLine(trainLineParts(progress, 50), 40).length, 40);
});

test('the ETA covers the whole run, not the epoch', () => {
  // 526 steps left in epoch 3, then 47 epochs of 938, at 21.4 it/s.
  assert.equal(runEtaSeconds(progress, 50), (526 + 47 * 938) / 21.4);
  assert.equal(runEtaSeconds({ ...progress, epoch: 50 }, 50), 526 / 21.4);
  assert.deepEqual([5, 65, 725, 7300].map(formatDuration), ['5s', '1m05s', '12m05s', '2h01m']);
});

test('hints: arguments quoted for a shell (and never ending in punctuation bare), the invocation that runs where the user is', () => {
  assert.deepEqual(['run-001', 'my runs/r1', "it's", 'run.', '', '256,512'].map(shellQuote), [
    'run-001',
    "'my runs/r1'",
    "'it'\\''s'",
    "'run.'",
    "''",
    '256,512',
  ]);
  const noGan = { PATH: '/nonexistent' };
  assert.equal(ganInvocation(CLONE, noGan), 'npx gan');
  assert.equal(ganInvocation(path.join(CLONE, 'src'), noGan), 'npx gan');
  const elsewhere = tmpDir('gan-where-');
  assert.equal(ganInvocation(elsewhere, noGan), `npx --prefix ${shellQuote(CLONE)} gan`);
  // gan on PATH (npm link makes such a link) is used by name.
  const bin = tmpDir('gan-bin-');
  fs.symlinkSync(BIN, path.join(bin, 'gan'));
  assert.equal(ganInvocation(elsewhere, { PATH: bin }), 'gan');
  // Not the gan npx links for the command it runs: the user's shell has no such PATH.
  const npxBin = path.join(tmpDir('gan-npx-'), '_npx', '1a2b', 'node_modules', '.bin');
  fs.mkdirSync(npxBin, { recursive: true });
  fs.symlinkSync(BIN, path.join(npxBin, 'gan'));
  assert.equal(ganInvocation(CLONE, { PATH: npxBin }), 'npx gan');
  assert.deepEqual(
    [0, 1, 2].map((n) => plural(n, 'epoch')),
    ['0 epochs', '1 epoch', '2 epochs'],
  );
});

test("the report's config rows: flag names, and only the settings that apply to the run", () => {
  const flags = (c: object) => configRows(c as Record<string, unknown>).map(([f]) => f);
  const mlp = flags(resolveTrainConfig({ seed: 1 }));
  assert.ok(mlp.includes('--lr') && mlp.includes('--generator-hidden') && mlp.includes('--seed'));
  assert.ok(!mlp.some((f) => /channels|smoothing|replay|debug|[A-Z]/.test(f)), mlp.join(' '));
  const dcgan = flags(resolveTrainConfig({ seed: 1, arch: 'dcgan', labelSmoothing: 0.1, ema: 0.995 }));
  assert.ok(dcgan.includes('--channels') && !dcgan.includes('--generator-hidden'));
  assert.ok(dcgan.includes('--label-smoothing') && dcgan.includes('--one-sided') && dcgan.includes('--ema'));
  assert.ok(!dcgan.includes('--replay-fraction') && !dcgan.includes('--noise-decay'));
  const rows = configRows(resolveTrainConfig({ seed: 1, conditional: true }) as unknown as Record<string, unknown>);
  assert.deepEqual(
    rows.find(([f]) => f === '--conditional'),
    ['--conditional', 'on'],
  );
});

test('conditional samples: equal shares of the ten digits, in rows; walks one digit per column', () => {
  assert.deepEqual(
    [64, 70, 1, 100].map((n) => equalShares(n)),
    [70, 70, 10, 100],
  );
  const counts = new Array(10).fill(0);
  for (const l of sampleLabels(70)) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(7));
  assert.deepEqual(Array.from(digitColumns(12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
});

/** Each line and each redraw a terminal was sent, escapes out (going back to column 1 starts a redraw). */
const screenLines = (raw: string) =>
  raw
    .replace(/\x1b\[\d*G|\x1b8/g, '\r')
    .replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '')
    .split(/\r?\n/)
    .flatMap((l) => l.split('\r'))
    .filter(Boolean);

test('on a pseudo-terminal of 80 and 120 columns: the bar fits with its losses, and Ctrl-C prints its two lines in order', async (t) => {
  if (spawnSync('script', ['--version']).status !== 0) return t.skip('script (util-linux) is not installed');
  for (const columns of [80, 120]) {
    const run = path.join(tmpDir('gan-tty-'), 'run');
    const cmd = `stty cols ${columns} rows 24; exec ${process.execPath} ${BIN} train --epochs 2 --limit 8192 --batch-size 16 --seed 3 --out ${run}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '' } });
    let raw = '';
    child.stdout.on('data', (d) => (raw += d));
    // Ctrl-C, typed once the bar has drawn its losses a few times.
    await new Promise<void>((resolve) => {
      const look = () => ((raw.match(/g_loss/g) ?? []).length >= 3 ? resolve() : setTimeout(look, 50));
      look();
    });
    child.stdin.write('\x03');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    const lines = screenLines(raw);
    const bars = lines.filter((l) => /^epoch \d\/2 .*\d+\/512/.test(l));
    assert.ok(bars.length > 0, raw);
    for (const bar of bars) {
      assert.ok(bar.length < columns, `${columns} columns: ${bar.length}: ${bar}`);
      assert.match(bar, /ETA \S+ d_loss \d\.\d+ g_loss \d\.\d+/);
    }
    const stop = lines.findIndex((l) => l.startsWith('SIGINT: finishing this step'));
    const stopped = lines.findIndex((l) => /^gan: stopped by SIGINT at step \d+/.test(l));
    assert.ok(stop >= 0 && stopped > stop, `${columns} columns: the two messages, in order:\n${lines.slice(-4).join('\n')}`);
    assert.equal(code, 130, raw);
  }
});
