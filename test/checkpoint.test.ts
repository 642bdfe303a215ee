import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testTf, testConfig, tmpDir, snapshot, changed } from './helpers';
import { GanTrainer } from '../src/train/trainer';
import { saveCheckpoint, loadCheckpoint, loadLatestCheckpoint, listCheckpoints, sealedStateJson } from '../src/run/checkpoint';
import { CheckpointError } from '../src/util/errors';
import { loadImages, scaleToSigned } from '../src/data/mnist';

async function trainedCheckpoint(runDir: string, steps: number[]) {
  const tf = await testTf();
  const config = testConfig({ batchSize: 8 });
  const trainer = new GanTrainer(tf, config);
  const real = tf.tensor2d(scaleToSigned(loadImages({ limit: 8 }).pixels), [8, 784]);
  const noise = tf.ones([4, 100]);
  const dirs: string[] = [];
  for (const step of steps) {
    trainer.step(real, step).dispose();
    dirs.push(
      await saveCheckpoint(tf, runDir, {
        state: {
          epoch: 0,
          iteration: step + 1,
          step: step + 1,
          config,
          backend: 'wasm',
          adamSteps: { generator: trainer.optG.t, discriminator: trainer.optD.t },
          partialEpoch: { sums: [0, 0, 0, 0], iterations: 0, seconds: 0 },
        },
        generator: trainer.model.generator,
        discriminator: trainer.model.discriminator,
        tensors: [...trainer.optimizerTensors(), { name: 'fixed_noise', tensor: noise }],
      }),
    );
  }
  real.dispose();
  noise.dispose();
  return { tf, trainer, dirs };
}

test('a checkpoint restores weights and both Adam states exactly', async () => {
  const run = tmpDir();
  const { tf, trainer, dirs } = await trainedCheckpoint(run, [0, 1]);
  const restored = new GanTrainer(tf, trainer.config);
  restored.restore(loadCheckpoint(tf, dirs[1]));
  const pairs: Array<[string, import('@tensorflow/tfjs').Tensor[], import('@tensorflow/tfjs').Tensor[]]> = [
    ['G', trainer.model.generator.variables, restored.model.generator.variables],
    ['D', trainer.model.discriminator.variables, restored.model.discriminator.variables],
    ['Adam', trainer.optimizerTensors().map((t) => t.tensor), restored.optimizerTensors().map((t) => t.tensor)],
  ];
  for (const [name, a, b] of pairs) snapshot(a).forEach((w, i) => assert.ok(!changed(w, snapshot(b)[i]), `${name} tensor ${i} differs`));
  assert.equal(restored.optG.t, 2);
  assert.equal(restored.optD.t, 2);
  trainer.dispose();
  restored.dispose();
});

test('only the newest two checkpoints are kept, and no temporary folders remain', async () => {
  const run = tmpDir();
  const { trainer } = await trainedCheckpoint(run, [0, 1, 2]);
  assert.deepEqual(
    listCheckpoints(run).map((d) => path.basename(d)),
    ['step-000000003', 'step-000000002'],
  );
  assert.deepEqual(fs.readdirSync(path.join(run, 'checkpoints')).sort(), ['step-000000002', 'step-000000003']);
  trainer.dispose();
});

test('damage is detected: truncated weights, a wrong checksum, a missing state.json; the previous checkpoint is used', async () => {
  const run = tmpDir();
  const { tf, trainer, dirs } = await trainedCheckpoint(run, [0, 1]);
  const weights = path.join(dirs[1], 'generator', 'weights.bin');
  const original = fs.readFileSync(weights);
  fs.writeFileSync(weights, original.subarray(0, 1000));
  assert.throws(
    () => loadCheckpoint(tf, dirs[1]),
    (e: unknown) => e instanceof CheckpointError && /generator\/weights.bin does not match its sha256/.test(e.message),
  );
  const latest = loadLatestCheckpoint(tf, run);
  assert.equal(latest.checkpoint.dir, dirs[0]);
  assert.equal(latest.skipped.length, 1);
  const flipped = Buffer.from(original);
  flipped[100] ^= 1;
  fs.writeFileSync(weights, flipped);
  assert.throws(() => loadCheckpoint(tf, dirs[1]), /does not match its sha256/);
  fs.rmSync(path.join(dirs[1], 'state.json'));
  assert.throws(() => loadCheckpoint(tf, dirs[1]), /state.json is missing/);
  trainer.dispose();
});

test('a model.json whose weight paths leave the checkpoint folder is refused, not followed', async () => {
  const run = tmpDir();
  const { tf, trainer, dirs } = await trainedCheckpoint(run, [0]);
  const modelJson = path.join(dirs[0], 'generator', 'model.json');
  const m = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  m.weightsManifest[0].paths = ['../../../../etc/passwd'];
  const text = JSON.stringify(m);
  fs.writeFileSync(modelJson, text);
  // Even with a matching checksum (an attacker can recompute it), the path is refused.
  const statePath = path.join(dirs[0], 'state.json');
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  state.files['generator/model.json'] = require('node:crypto').createHash('sha256').update(text).digest('hex');
  fs.writeFileSync(statePath, sealedStateJson(state));
  assert.throws(() => loadCheckpoint(tf, dirs[0]), /names weight file '..\/..\/..\/..\/etc\/passwd' outside its folder/);
  trainer.dispose();
});

test('a checkpoint whose weights do not fit the stored architecture is refused', async () => {
  const run = tmpDir();
  const { tf, trainer, dirs } = await trainedCheckpoint(run, [0]);
  const statePath = path.join(dirs[0], 'state.json');
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  state.config.latentDim = 64;
  fs.writeFileSync(statePath, sealedStateJson(state));
  assert.throws(() => loadCheckpoint(tf, dirs[0]), /do not match the architecture/);
  trainer.dispose();
});

test('state.json is protected by its own checksum, and a re-sealed one is still validated field by field', async () => {
  const run = tmpDir();
  const { tf, trainer, dirs } = await trainedCheckpoint(run, [0]);
  const statePath = path.join(dirs[0], 'state.json');
  const original = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  const rewrite = (edit: (s: Record<string, any>) => void, seal = true) => {
    const s = structuredClone(original);
    edit(s);
    fs.writeFileSync(statePath, seal ? sealedStateJson(s) : JSON.stringify(s, null, 1));
  };
  // An edit without the checksum (bit rot, a hand edit) is caught, and the loader moves on.
  rewrite((s) => (s.step = 2), false);
  assert.throws(() => loadCheckpoint(tf, dirs[0]), /state.json does not match its checksum/);
  // Valid JSON, valid checksum, wrong contents: each named.
  const cases: Array<[(s: Record<string, any>) => void, RegExp]> = [
    [(s) => delete s.epoch, /state.json is not valid: epoch is missing, not a whole number/],
    [(s) => (s.config = {}), /config.latentDim is missing; config.generatorHidden is missing/],
    [(s) => delete s.config.seed, /config.seed is missing/],
    [(s) => (s.config.batchSize = '64'), /config.batchSize is "64", not a whole number from 1 to 65536/],
    [(s) => (s.config.lr = -1), /config.lr is -1, not a number in \(0, 1\)/],
    [(s) => (s.config.colour = true), /config.colour is not a setting this version of gan knows/],
    [(s) => (s.adamSteps = { generator: 1 }), /adamSteps is .*discriminator is a whole number/],
    [(s) => (s.partialEpoch.sums = [0, 0]), /partialEpoch is .*sums is a list of 4 finite numbers/],
    [(s) => (s.tensors[0].dtype = 'bool'), /tensors is .*float32 or int32 tensor specs/],
  ];
  for (const [edit, message] of cases) {
    rewrite(edit);
    assert.throws(
      () => loadCheckpoint(tf, dirs[0]),
      (e: unknown) => e instanceof CheckpointError && message.test(e.message),
      String(message),
    );
  }
  rewrite(() => {});
  loadCheckpoint(tf, dirs[0]);
  trainer.dispose();
});
