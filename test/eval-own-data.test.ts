/**
 * gan eval on data that is not MNIST: a labelled folder gets a classifier of its own (trained
 * once, cached by the data's fingerprint, size and colour), and FID, IS and coverage in ITS
 * feature space, said so in the output and in evals.jsonl; an unlabelled folder gets one line
 * saying why there is no FID and what would give one.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { writeMnistFolder } from './image-fixtures';
import { parseEvalsLog } from '../src/report/evals-log';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function gan(args: string[], cacheDir: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '', GAN_CACHE_DIR: cacheDir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a labelled folder: a classifier of its own, trained once and cached; FID in its feature space, labelled as such', async () => {
  const work = tmpDir();
  const data = path.join(work, 'digits');
  await writeMnistFolder(data, { perClass: 8, size: 16 });
  const cache = path.join(work, 'cache');
  const run = path.join(work, 'run');
  const t = gan(['train', '--data', data, '--image-size', '16', '--batch-size', '16', '--epochs', '1', '--seed', '2', '--out', run], cache);
  assert.equal(t.code, 0, t.stderr);

  const e = gan(['eval', '--run', run, '--n', '20'], cache);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /training a classifier on .*digits, once for this data \(cached in .*classifiers/);
  assert.match(e.stdout, /classifier: trained on .*digits \(80 images, 10 classes, 16x16 rgb\), accuracy [\d.]+% on its 8 held-out images/);
  assert.match(e.stdout, /real digits \(20 random\)\s+20 /);
  assert.match(
    e.stdout,
    /FID against 80 images of .*digits in the 128-d feature space of a classifier trained on that data \(data:[0-9a-f]{12}\), not MNIST's/,
  );
  assert.doesNotMatch(e.stdout, /MNIST test/);
  const [record] = parseEvalsLog(fs.readFileSync(path.join(run, 'evals.jsonl'), 'utf8'));
  assert.match(record.feature_space!, /^data:[0-9a-f]{12}$/);
  assert.equal(record.classes, 10);
  const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
  assert.match(html, /classifier of the run&#39;s data \([0-9a-f]{12}\)/, 'the report names the feature space');

  // The second time, the cached classifier: no training, the same feature space.
  const again = gan(['eval', '--run', run, '--n', '20', '--json'], cache);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /training a classifier/);
  const rows = again.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows[1].feature_space, record.feature_space);
  assert.equal(fs.readdirSync(path.join(cache, 'classifiers')).length, 1);
});

test('an unlabelled folder: one line saying why there is no FID and what would give one, exit 1, nothing written', async () => {
  const work = tmpDir();
  const data = path.join(work, 'digits');
  await writeMnistFolder(data, { perClass: 4, size: 16 });
  // The same images without class folders.
  const flat = path.join(work, 'flat');
  fs.mkdirSync(flat);
  for (const d of fs.readdirSync(data))
    for (const f of fs.readdirSync(path.join(data, d))) fs.copyFileSync(path.join(data, d, f), path.join(flat, `${d}-${f}`));
  const cache = path.join(work, 'cache');
  const run = path.join(work, 'run');
  assert.equal(gan(['train', '--data', flat, '--image-size', '16', '--batch-size', '8', '--epochs', '1', '--out', run], cache).code, 0);
  const before = fs.readdirSync(run).sort();
  const e = gan(['eval', '--run', run, '--n', '10'], cache);
  assert.equal(e.code, 1);
  assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
  assert.match(
    e.stderr,
    /no FID for .*: its data .*flat has no classes, and FID needs a feature space made for the data .*Sort the images into one subfolder per class/,
  );
  assert.deepEqual(fs.readdirSync(run).sort(), before);
  assert.ok(!fs.existsSync(path.join(cache, 'classifiers')));
});
