/** The report's per-step curves, its colours, and gan eval's results in it (evals.jsonl); no backend. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { gridPng } from '../src/core/image/grid';
import { resolveTrainConfig } from '../src/config';
import { PALETTE, chartSpecs, downsample, MAX_POINTS } from '../src/report/charts';
import { appendEval, bestEval, parseEvalsLog, type EvalRecord } from '../src/report/evals-log';
import type { MetricsRow } from '../src/report/metrics-log';
import type { StepPoint } from '../src/report/steps-log';
import { writeReport } from '../src/report/report';

const STEPS_PER_EPOCH = 64;

function row(epoch: number): MetricsRow {
  const r = { epoch, step: STEPS_PER_EPOCH * epoch, d_loss: 1.3, g_loss: 0.8, d_real: 0.6, d_fake: 0.5, iterations: 64 };
  return { ...r, seconds: 3, ms_per_iter: 47, backend: 'wasm', batch_size: 64 } as MetricsRow;
}

/** Points every 5 steps up to `last`, as gan train writes them. */
function points(last: number): StepPoint[] {
  return Array.from({ length: Math.floor(last / 5) }, (_, i) => {
    const step = 5 * (i + 1);
    return {
      step,
      epoch: Math.ceil(step / STEPS_PER_EPOCH),
      d_loss: 1 + step / 1000,
      g_loss: 0.7,
      d_real: 0.6,
      d_fake: 0.4,
      ms_per_iter: 40,
      wall_time: 0,
    };
  });
}

function evalRecord(step: number, fid: number): EvalRecord {
  return {
    time: '2026-01-01T10:00:00.000Z',
    checkpoint: `checkpoints/step-${String(step).padStart(9, '0')}`,
    epoch: Math.floor(step / STEPS_PER_EPOCH),
    step,
    generator: 'raw',
    n: 10000,
    seed: 0,
    fid,
    inception_score: 8,
    classes_covered: 10,
    kl_to_uniform: 0.01,
    mean_confidence: 0.9,
  };
}

type Axis = { name: string; max: number; position?: string; interval?: number };
type Option = { color: string[]; xAxis: Axis | Axis[]; series: Array<{ name: string; data: Array<[number, number]> }> };

test('after one 64-step epoch, losses, D outputs and speed are curves of 12 points, with the epoch on a top axis', () => {
  const specs = chartSpecs([row(1)], { steps: points(64) });
  assert.deepEqual(
    specs.map((c) => c.name),
    ['losses', 'discriminator', 'speed'],
  );
  for (const c of specs) {
    const o = c.option as Option;
    for (const s of o.series) assert.equal(s.data.length, 12, `${c.name}: ${s.name}`);
    assert.deepEqual(o.series[0].data[0], [5, c.name === 'losses' ? 1.005 : c.name === 'speed' ? 40 : 0.6]);
    const [steps, epochs] = o.xAxis as Axis[];
    assert.deepEqual([steps.name, steps.max], ['step', 64]);
    assert.deepEqual([epochs.name, epochs.position, epochs.max, epochs.interval], ['epoch', 'top', 1, 1]);
    assert.deepEqual(o.color.slice(0, 2), ['#0072B2', '#D55E00'], 'Okabe-Ito blue and vermillion');
  }
  // A run stopped mid-epoch shows its steps past the last epoch line too.
  const partial = chartSpecs([row(1)], { steps: points(100) })[0].option as Option;
  assert.equal((partial.xAxis as Axis[])[0].max, 100);
});

test('Okabe-Ito colours, and long runs drawn with at most MAX_POINTS averaged points', () => {
  assert.deepEqual(PALETTE, ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000']);
  const data = Array.from({ length: 9380 }, (_, i): [number, number] => [5 * (i + 1), i % 2]);
  const small = downsample(data);
  assert.ok(small.length <= MAX_POINTS && small.length > MAX_POINTS / 2, `${small.length} points`);
  // 16 points a group: the first averages steps 5..80 and as many 0s as 1s.
  assert.deepEqual(small[0], [42.5, 0.5]);
  assert.deepEqual(downsample(data.slice(0, 10)), data.slice(0, 10), 'short lines are drawn as they are');
  const long = chartSpecs(
    Array.from({ length: 50 }, (_, e) => row(e + 1)),
    { steps: points(50 * 64) },
  )[0].option as Option;
  assert.equal((long.xAxis as Axis[])[1].interval, undefined, 'more than 20 epochs: echarts spaces the epoch ticks');
});

test("gan eval's results: FID, IS and coverage charts at the evaluated checkpoint's epoch, beside --eval-every's", () => {
  const specs = chartSpecs([row(1), { ...row(2), fid: 30, inception_score: 7, classes_covered: 9 }], {
    steps: points(128),
    evals: [evalRecord(96, 40), evalRecord(128, 25)],
  });
  const fid = specs.find((c) => c.name === 'fid')!.option as Option;
  assert.deepEqual(
    fid.series.map((s) => [s.name, s.data]),
    [
      ['FID, during training', [[2, 30]]],
      [
        'FID, gan eval',
        [
          [1.5, 40],
          [2, 25],
        ],
      ],
    ],
  );
  assert.ok(specs.some((c) => c.name === 'coverage'));
  assert.equal(bestEval([evalRecord(96, 40), evalRecord(128, 25), evalRecord(64, 31)])!.step, 128);
  assert.deepEqual(
    parseEvalsLog(`${JSON.stringify(evalRecord(64, 31))}\n{"step":1,"fid":null}\n{"ste`).map((e) => e.fid),
    [31],
  );
});

test('report.html: curves of every step, gan eval results, the best checkpoint by FID and whether it is kept', () => {
  const run = path.join(tmpDir(), 'run');
  fs.mkdirSync(path.join(run, 'samples'), { recursive: true });
  fs.mkdirSync(path.join(run, 'checkpoints', 'step-000000128'), { recursive: true });
  const config = resolveTrainConfig({ seed: 1, epochs: 2 });
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ format: 'gan-run', version: 1, createdAt: 'x', config }));
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), [row(1), row(2)].map((r) => JSON.stringify(r) + '\n').join(''));
  fs.writeFileSync(
    path.join(run, 'steps.jsonl'),
    points(128)
      .map((p) => JSON.stringify(p) + '\n')
      .join(''),
  );
  for (const e of [1, 2]) fs.writeFileSync(path.join(run, 'samples', `epoch-000${e}.png`), gridPng(new Uint8Array(4 * 784), 4, 28, 28));

  let html = (writeReport(run), fs.readFileSync(path.join(run, 'report.html'), 'utf8'));
  assert.match(html, /means over every 5 steps \(25 points in <code>steps.jsonl<\/code>\)/);
  assert.match(html, /None yet: <code>gan eval<\/code> adds its results here/);
  assert.match(html, /best by FID during training: none measured/);

  appendEval(run, evalRecord(64, 31));
  appendEval(run, evalRecord(128, 25));
  html = (writeReport(run), fs.readFileSync(path.join(run, 'report.html'), 'utf8'));
  const evalRows = html.match(/<tr><td>2026-01-01 10:00:00Z<\/td>.*?<\/tr>/g) ?? [];
  assert.equal(evalRows.length, 2);
  assert.match(evalRows[1], /<td>25\.00 \*<\/td>/);
  assert.match(
    html,
    /best by FID in <code>gan eval<\/code>: <code>checkpoints\/step-000000128<\/code> \(epoch 2, step 128, FID 25\.00\)<\/li>/,
  );
  assert.match(html, /<b>25\.00<\/b><span>best FID<\/span>/);
  assert.equal((html.match(/<svg/g) ?? []).length, 6, 'losses, D outputs, speed, FID, IS, coverage');

  // Only the newest two checkpoints are kept: the report says when the best one is gone.
  appendEval(run, evalRecord(64, 20));
  html = (writeReport(run), fs.readFileSync(path.join(run, 'report.html'), 'utf8'));
  assert.match(html, /step-000000064<\/code> \(epoch 1, step 64, FID 20\.00\), since replaced by newer checkpoints/);
});
