/**
 * steps.jsonl and the TensorBoard event file: windows of --metrics-every steps, and the files of
 * a run stopped mid-epoch (with what a kill leaves behind added) and resumed equal to an
 * uninterrupted run's, wall times and speeds aside.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testConfig, testTf, tmpDir } from './helpers';
import { StepWindows, emptyWindow, parseStepsLog, STEPS_FILE } from '../src/report/steps-log';
import { EVALS_FILE } from '../src/report/evals-log';
import { dropLinesAfterStep } from '../src/report/jsonl';
import { encodeEvent, frameRecord } from '../src/report/tfevents';
import { listEventFiles } from '../src/report/tensorboard';
import { readCheckpointState } from '../src/run/checkpoint';
import { train } from '../src/train/loop';
import { readRunEvents, scalarsAndImages } from './tfevents-reader';

test('StepWindows: a point at every multiple of N, the mean of the N steps; a window carried over gives the same points', () => {
  const stats = (s: number) => [s, 2 * s, 0.5, 0.25];
  const straight = new StepWindows(3, 4);
  const points = [1, 2, 3, 4, 5, 6, 7].map((s) => straight.add(s, stats(s), 0.01, 100)).filter((p) => p !== undefined);
  assert.deepEqual(
    points.map((p) => [p.step, p.epoch, p.d_loss, p.g_loss, p.d_real, p.ms_per_iter, p.wall_time]),
    [
      [3, 1, 2, 4, 0.5, 10, 100],
      [6, 2, 5, 10, 0.5, 10, 100],
    ],
  );
  // Stopped after step 4 with its window saved, resumed with it: the same point at 6.
  const first = new StepWindows(3, 4);
  [1, 2, 3, 4].forEach((s) => first.add(s, stats(s), 0.01, 100));
  const saved = JSON.parse(JSON.stringify(first.window));
  assert.deepEqual(saved, { sums: [4, 8, 0.5, 0.25], steps: 1, seconds: 0.01 });
  const resumed = new StepWindows(3, 4, saved);
  assert.equal(resumed.add(5, stats(5), 0.01, 200), undefined);
  assert.deepEqual({ ...resumed.add(6, stats(6), 0.01, 200), wall_time: 100 }, points[1]);
  assert.deepEqual(emptyWindow(), { sums: [0, 0, 0, 0], steps: 0, seconds: 0 });
});

test('steps.jsonl is read leniently (cut and foreign lines skipped, the last line of a step kept) and trimmed to a step', () => {
  const line = (step: number, d = 1) =>
    JSON.stringify({ step, epoch: 1, d_loss: d, g_loss: 1, d_real: 0.5, d_fake: 0.5, ms_per_iter: 1, wall_time: 0 });
  const text = [line(5), line(10), line(10, 2), '["x"]', line(15)].join('\n') + '\n{"step":20,"ep';
  assert.deepEqual(
    parseStepsLog(text).map((p) => [p.step, p.d_loss]),
    [
      [5, 1],
      [10, 2],
      [15, 1],
    ],
  );
  const file = path.join(tmpDir(), STEPS_FILE);
  fs.writeFileSync(file, text);
  dropLinesAfterStep(file, 10);
  assert.equal(fs.readFileSync(file, 'utf8'), [line(5), line(10), line(10, 2)].join('\n') + '\n');
  dropLinesAfterStep(path.join(path.dirname(file), 'absent.jsonl'), 0);
  assert.ok(!fs.existsSync(path.join(path.dirname(file), 'absent.jsonl')));
});

/** steps.jsonl without its timing fields. */
function stepLines(run: string): string[] {
  return fs
    .readFileSync(path.join(run, STEPS_FILE), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { wall_time: _w, ms_per_iter: _m, ...rest } = JSON.parse(l);
      return JSON.stringify(rest);
    });
}

test("a run stopped at step 7, with a kill's leftovers added, resumes to the same steps.jsonl and event scalars and images", async () => {
  const tf = await testTf();
  // 10 steps an epoch, a point every 3 steps: windows cross the stop and the epoch end.
  const config = testConfig({ epochs: 2, limit: 320, batchSize: 32, gridSize: 4, metricsEvery: 3 });
  const work = tmpDir();
  const straight = path.join(work, 'straight');
  const split = path.join(work, 'split');
  await train({ tf, backend: 'wasm', config, runDir: straight });

  let calls = 0;
  const stopped = await train({ tf, backend: 'wasm', config, runDir: split, readEvery: 4 }, { shouldStop: () => ++calls === 7 });
  assert.deepEqual([stopped.stopped, stopped.step], [true, 7]);
  const state = readCheckpointState(stopped.checkpoint!);
  assert.equal(state.metricsWindow!.steps, 1, 'the window of steps 7..9 holds step 7');
  // What a kill after the checkpoint leaves: lines and events of later steps, cut writes, an eval of a lost checkpoint.
  fs.appendFileSync(path.join(split, STEPS_FILE), '{"step":9,"epoch":1,"d_loss":9,"g_loss":9,"d_real":9,"d_fake":9}\n{"step":1');
  const [events] = listEventFiles(split);
  fs.appendFileSync(events, frameRecord(encodeEvent({ wallTime: 0, step: 9, values: [{ tag: 'loss/d_loss', scalar: 9 }] })));
  fs.appendFileSync(events, frameRecord(encodeEvent({ wallTime: 0, step: 10, values: [] })).subarray(0, 20));
  fs.writeFileSync(path.join(split, EVALS_FILE), '{"step":7,"epoch":0,"fid":50}\n{"step":9,"epoch":0,"fid":40}\n');

  await train({ tf, backend: 'wasm', config, runDir: split, resume: true });
  assert.deepEqual(stepLines(split), stepLines(straight));
  assert.deepEqual(
    stepLines(straight).map((l) => JSON.parse(l).step),
    [3, 6, 9, 12, 15, 18],
  );
  const a = scalarsAndImages(straight);
  const b = scalarsAndImages(split);
  assert.deepEqual(b.scalars, a.scalars);
  assert.equal(a.scalars.length, 6 * 4);
  assert.deepEqual(
    b.images.map((i) => [i.tag, i.step]),
    [
      ['samples/fixed_noise', 10],
      ['samples/fixed_noise', 20],
    ],
  );
  b.images.forEach((img, k) => assert.ok(img.png.equals(a.images[k].png), `grid at step ${img.step}`));
  // One event file per process; each step in one of them only.
  assert.deepEqual(
    readRunEvents(split).map((f) => f.events.filter((e) => e.values.length).map((e) => e.step)),
    [
      [3, 6],
      [9, 10, 12, 15, 18, 20],
    ],
  );
  assert.equal(fs.readFileSync(path.join(split, EVALS_FILE), 'utf8'), '{"step":7,"epoch":0,"fid":50}\n');
});
