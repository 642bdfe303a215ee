/** The table of stored settings: every field checked by type and range; run.json read back through it. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_FIELDS, FIXED_ON_RESUME, configProblems, readStoredConfig, resolveTrainConfig } from '../src/config';
import { readRunInfo, writeRunInfo, checkOutDir } from '../src/run/run-dir';
import { CheckpointError } from '../src/util/errors';
import { memoryBudget, memoryProblem, trainingMemory } from '../src/nets/memory';
import { tmpDir } from './helpers';

test('a resolved config passes its own checks; every field is in the table', () => {
  const config = resolveTrainConfig({ seed: 3 });
  assert.deepEqual(configProblems(config), []);
  assert.deepEqual(Object.keys(CONFIG_FIELDS).sort(), [...Object.keys(config), 'limit', 'data'].sort());
  assert.ok(FIXED_ON_RESUME.includes('batchSize') && !FIXED_ON_RESUME.includes('epochs'));
  assert.deepEqual(readStoredConfig({ ...config, limit: 5, data: '/x' }).problems, []);
});

test('stored configs of the wrong shape are named field by field', () => {
  const good = resolveTrainConfig({ seed: 3 });
  assert.match(configProblems(undefined)[0], /config is missing/);
  assert.match(configProblems([])[0], /not an object/);
  assert.equal(configProblems({}).length, Object.values(CONFIG_FIELDS).filter((f) => !f.optional && f.absentMeans === undefined).length);
  const bad = (edit: Record<string, unknown>) => configProblems({ ...good, ...edit }).join('; ');
  assert.match(bad({ batchSize: '64' }), /config.batchSize is "64", not a whole number from 1 to 65536/);
  assert.match(bad({ batchSize: 6.5 }), /config.batchSize is 6.5/);
  assert.match(bad({ seed: -1 }), /config.seed is -1/);
  assert.match(bad({ epochs: 0 }), /config.epochs is 0/);
  assert.match(bad({ beta1: 1 }), /config.beta1 is 1, not a number in \[0, 1\)/);
  assert.match(bad({ generatorHidden: [256, 'x'] }), /config.generatorHidden/);
  assert.match(bad({ arch: 'gpt' }), /config.arch is "gpt", not one of "mlp"/);
  assert.match(bad({ limit: 0 }), /config.limit is 0/);
  assert.match(bad({ extra: 1 }), /config.extra is not a setting/);
  assert.match(bad({ seed: undefined }), /config.seed is missing/);
});

test('run.json is validated when read back: {} , a missing seed, a string batch size', () => {
  const dir = tmpDir();
  const good = resolveTrainConfig({ seed: 3 });
  writeRunInfo(dir, good, { images: 10, sha256: 'a'.repeat(64) });
  assert.deepEqual(readRunInfo(dir).config, good);
  const file = path.join(dir, 'run.json');
  const cases: Array<[unknown, RegExp]> = [
    [{}, /run.json is not valid: format is not 'gan-run'; config is missing/],
    [{ format: 'gan-run', config: { ...good, seed: undefined } }, /config.seed is missing/],
    [{ format: 'gan-run', config: { ...good, batchSize: '64' } }, /config.batchSize is "64"/],
  ];
  for (const [content, message] of cases) {
    fs.writeFileSync(file, JSON.stringify(content));
    assert.throws(
      () => readRunInfo(dir),
      (e: unknown) => e instanceof CheckpointError && message.test(e.message),
      String(message),
    );
  }
  fs.writeFileSync(file, '{"format": "gan-run", ');
  assert.throws(() => readRunInfo(dir), /damaged run.json \(not valid JSON\)/);
});

test('--out: a run that never reached a checkpoint, or whose checkpoints all fail to verify, is restarted in place', () => {
  const work = tmpDir();
  const run = path.join(work, 'run');
  assert.equal(checkOutDir(run), 'new');
  fs.mkdirSync(run);
  writeRunInfo(run, resolveTrainConfig({ seed: 3 }));
  assert.equal(checkOutDir(run), 'restart');
  // An empty checkpoint folder verifies no more than a damaged one (a verifying one is refused:
  // test:bad-input, '--out holds a run already').
  fs.mkdirSync(path.join(run, 'checkpoints', 'step-000000004'), { recursive: true });
  assert.equal(checkOutDir(run), 'restart');
  // A folder holding only a lock left by a killed writer counts as empty.
  const locked = path.join(work, 'locked');
  fs.mkdirSync(locked);
  fs.writeFileSync(
    path.join(locked, 'train.lock'),
    JSON.stringify({ pid: 2 ** 22 + 7, host: require('node:os').hostname(), startedAt: 'then' }),
  );
  assert.equal(checkOutDir(locked), 'new');
});

test('a config stored before the model family (checkpoint version 1) reads as an unconditional MLP', () => {
  const { arch: _a, channels: _c, conditional: _k, ...v1 } = resolveTrainConfig({ seed: 3 });
  const { config, problems } = readStoredConfig(v1);
  assert.deepEqual(problems, []);
  assert.equal(config!.arch, 'mlp');
  assert.equal(config!.conditional, false);
  assert.equal(typeof config!.channels, 'number');
});

test('sizes follow from memory: a config that cannot fit is refused before anything is allocated, from flags and from files', () => {
  const huge = resolveTrainConfig({ seed: 1, generatorHidden: [65536, 65536, 65536] });
  assert.ok(trainingMemory(huge).bytes > 100 * 2 ** 30, 'three 65536-unit layers hold over 100 GiB of training state');
  assert.match(memoryProblem(huge, memoryBudget('wasm'))!, /needs about \d+\.\d GiB, more than 4\.0 GiB \(the wasm backend's heap\)/);
  assert.equal(memoryProblem(resolveTrainConfig({ seed: 1 }), memoryBudget('wasm')), undefined);
  assert.equal(memoryProblem(resolveTrainConfig({ seed: 1, arch: 'dcgan', channels: 128 }), memoryBudget('wasm'), 60000), undefined);
  assert.match(readStoredConfig(huge).problems.join(), /^config: training these networks .* needs about/);
});
