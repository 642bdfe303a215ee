/**
 * Issue 20's acceptance figure: a conditional GAN trained on a folder of pictures draws the class
 * it is asked for. MNIST digits written out as a colour class folder (test/image-fixtures.ts:
 * 300 per digit, 64x64 PNG and JPEG, random colours), then
 *
 *   gan train --data DIR --conditional --arch dcgan --image-size 32 --epochs 10 --seed 1
 *   gan sample --class 3 --n 200 --out threes/
 *
 * and the classifier gan eval trains on that folder (its own feature space) reads the samples:
 * at least 90% must be read as 3. About 8 minutes on 2 shared cores (train ~4, classifier ~3).
 *
 *   npm run test:class              the figure above
 *   npm run test:class -- 6         6 epochs instead of 10
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { writeMnistFolder } from '../image-fixtures';
import { loadBackend } from '../../src/backends';
import { loadTrainingSet } from '../../src/data/dataset';
import { obtainDataClassifier } from '../../src/eval/data-classifier';
import { classify } from '../../src/eval/classifier';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'gan.js');
const SIZE = 32;
const CLASS = '3';
const SAMPLES = 200;

function gan(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env, DEBUG: '' } });
  if (r.status !== 0) throw new Error(`gan ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 10);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-class-'));
  const env = { GAN_CACHE_DIR: path.join(work, 'cache') };
  const data = path.join(work, 'digits');
  const run = path.join(work, 'run');
  const out = path.join(work, 'threes');
  const t0 = Date.now();
  const made = await writeMnistFolder(data, { perClass: 300, size: 64, jpegEvery: 10 });
  console.log(`wrote ${made.files} images (${made.jpegs} JPEG) to ${data}`);
  const train = ['train', '--data', data, '--conditional', '--arch', 'dcgan', '--image-size', String(SIZE), '--epochs', String(epochs)];
  gan([...train, '--seed', '1', '--threads', '2', '--out', run], env);
  const t1 = Date.now();
  console.log(`trained ${epochs} epochs in ${((t1 - t0) / 1000).toFixed(0)} s`);
  console.log(gan(['sample', '--run', run, '--class', CLASS, '--n', String(SAMPLES), '--out', `${out}/`, '--threads', '2'], env).trim());

  // The classifier of gan eval on this folder (trained here once, into the same cache).
  process.env.GAN_CACHE_DIR = env.GAN_CACHE_DIR;
  const { tf, name } = await loadBackend('wasm', { threads: 2 });
  const images = await loadTrainingSet({ data, imageSize: SIZE, conditional: false }, { color: 'rgb', labels: true });
  const classifier = await obtainDataClassifier(tf, name, images, data);
  const t2 = Date.now();
  console.log(
    `classifier: ${(100 * classifier.info.testAccuracy).toFixed(1)}% on ${classifier.info.data!.heldOut} held-out images, ${((t2 - t1) / 1000).toFixed(0)} s`,
  );
  const files = fs.readdirSync(out).sort();
  const per = SIZE * SIZE * 3;
  const pixels = new Uint8Array(files.length * per);
  files.forEach((f, k) => {
    const png = PNG.sync.read(fs.readFileSync(path.join(out, f)));
    for (let i = 0; i < SIZE * SIZE; i++) for (let c = 0; c < 3; c++) pixels[k * per + 3 * i + c] = png.data[4 * i + c];
  });
  const { probs, classes } = await classify(tf, classifier.model, pixels, files.length);
  const names = classifier.info.data!.classNames;
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < files.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    counts[best]++;
  }
  const share = counts[names.indexOf(CLASS)] / files.length;
  console.log(
    `read as ${CLASS}: ${counts[names.indexOf(CLASS)]} of ${files.length} (${(100 * share).toFixed(1)}%); as each class: ${names.map((n, c) => `${n}:${counts[c]}`).join(' ')}`,
  );
  console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s in all; files in ${work}`);
  if (share < 0.9) {
    console.error(`FAIL: ${(100 * share).toFixed(1)}% read as ${CLASS}, under 90%`);
    process.exit(1);
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log('ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
