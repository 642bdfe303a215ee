/**
 * Training on a folder of pictures, as a user does it: MNIST digits written out as 64x64 RGB
 * PNG and JPEG files by class (each in random colours, beside a file that is no image), the
 * DCGAN trained on them at 64x64 in colour for an epoch; then sampled, evaluated, reported and
 * exported as a web page (opened in headless Chromium), all in colour, and resumed from the
 * cache. And the folders that cannot be trained on: one line each, a non-zero exit, nothing on
 * disk changed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { serveChild, testTf, tmpDir } from './helpers';
import { writeMnistFolder } from './image-fixtures';
import { loadTrainingSet } from '../src/data/dataset';
import { dataClassifierDir, dataClassifierKey, trainDataClassifier } from '../src/eval/data-classifier';
import { saveClassifier } from '../src/eval/classifier';
import { parseEvalsLog } from '../src/report/evals-log';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const CHROMIUM = '/usr/bin/chromium';

function gan(args: string[], cacheDir: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '', GAN_CACHE_DIR: cacheDir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir, with its bytes' length and mtime: what "nothing on disk changed" compares. */
function listing(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((f) => {
      const s = fs.lstatSync(path.join(dir, f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    });
}

/**
 * The colour run the first three tests share: 300 digits in colour (30 of them JPEGs, beside a
 * file that is no image) and the DCGAN trained on them for an epoch at 64x64 rgb. Trained once,
 * by whichever test asks first, so that each of them also runs alone.
 */
let colourRun: Promise<{ work: string; data: string; cache: string; run: string; train: ReturnType<typeof gan> }> | undefined;
function trainedColourRun() {
  return (colourRun ??= (async () => {
    const work = tmpDir();
    const data = path.join(work, 'digits');
    const made = await writeMnistFolder(data, { perClass: 30, size: 64, jpegEvery: 10 });
    assert.deepEqual(made, { files: 300, jpegs: 30 });
    fs.writeFileSync(path.join(data, 'README.txt'), 'MNIST digits, coloured\n');
    const cache = path.join(work, 'cache');
    const run = path.join(work, 'run');
    // Batches of 8: 38 steps, enough for the batch-norm averages the grids are drawn with to
    // leave their starting values (after 5 steps of 64 every image is 127 or 128 gray); width 16,
    // enough for colours well apart.
    const train = gan(
      ['train', '--data', data, '--arch', 'dcgan', '--channels', '16', '--batch-size', '8', '--epochs', '1', '--seed', '2', '--out', run],
      cache,
    );
    assert.equal(train.code, 0, train.stderr);
    return { work, data, cache, run, train };
  })());
}

test('a folder of MNIST digits in colour, 64x64: the DCGAN trains an epoch in rgb; its grid, samples, eval and report in colour', async () => {
  const { work, data, cache, run, train: t } = await trainedColourRun();
  assert.match(t.stdout, /decoded 300 images of .* at 64x64/);
  assert.match(t.stdout, /warning: skipped 1 file that is no image: README\.txt/);
  assert.match(t.stdout, /run .*: 300 images, 38 iterations of 8 per epoch/);
  const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
  assert.equal(info.config.imageSize, 64, 'a folder defaults to 64x64');
  assert.equal(info.config.color, 'rgb', "the data's own colour");
  assert.deepEqual(info.data.classes, undefined, 'class names only for a conditional run');
  const grid = PNG.sync.read(fs.readFileSync(path.join(run, 'samples', 'epoch-0001.png')));
  assert.equal(grid.width, 8 * 64 + 9 * 2, 'an 8x8 grid of 64x64 tiles');
  const colourful = colourCount(grid.data);
  assert.ok(
    colourful > grid.width * grid.height * 0.5,
    `the grid is in colour: ${colourful} pixels whose channels are ${COLOUR_SPREAD} levels apart`,
  );

  // gan sample --out DIR/: one colour PNG per sample; a latent walk and the timeline in colour too.
  const files = path.join(work, 'files');
  const s = gan(['sample', '--run', run, '--n', '3', '--out', `${files}/`], cache);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /wrote 3 samples as 64x64 rgb PNG files sample-0000\.png \.\.\. sample-0002\.png /);
  assert.deepEqual(fs.readdirSync(files), ['sample-0000.png', 'sample-0001.png', 'sample-0002.png']);
  const one = PNG.sync.read(fs.readFileSync(path.join(files, 'sample-0001.png')));
  assert.equal(one.width, 64);
  assert.ok(
    colourCount(one.data) > 64 * 64 * 0.5,
    `a sample in colour: ${colourCount(one.data)} pixels whose channels are ${COLOUR_SPREAD} levels apart`,
  );
  const again = gan(['sample', '--run', run, '--n', '2', '--out', files], cache);
  assert.match(again.stdout, /\(replaced 2 files of those names that were there\)/, 'an existing folder takes files too');
  assert.equal(fs.readdirSync(files).length, 3, 'the third file left alone');
  const idx = gan(['sample', '--run', run, '--out', path.join(work, 's.idx')], cache);
  assert.equal(idx.code, 2);
  assert.match(idx.stderr, /IDX files hold MNIST's 28x28 gray images; this run makes 64x64 rgb ones/);
  const walk = path.join(work, 'walk.gif');
  const w = gan(['sample', '--run', run, '--n', '2', '--interpolate', '2', '--frames', '2', '--out', walk], cache);
  assert.equal(w.code, 0, w.stderr);
  for (const gif of [walk, path.join(run, 'timeline.gif')]) {
    const share = gifColourShare(fs.readFileSync(gif));
    assert.ok(share > 0.5, `${path.basename(gif)} is in colour: ${(100 * share).toFixed(0)}% of its pixels`);
  }

  // gan eval: FID in the feature space of a classifier of this data. gan eval trains it once per
  // dataset (eval-own-data.test.ts tests that); at 64x64 rgb that is 120 steps, 90 s on 2 cores,
  // so here one epoch of the same training (4 steps) is put where gan eval looks for it.
  const tf = await testTf();
  const images = await loadTrainingSet(
    { data, imageSize: 64, limit: undefined, conditional: false },
    { color: 'rgb', labels: true, cacheDir: path.join(cache, 'datasets') },
  );
  const key = dataClassifierKey(images);
  const classifier = await trainDataClassifier(tf, 'wasm', images, data, { epochs: 1 });
  await saveClassifier(tf, dataClassifierDir(key, { GAN_CACHE_DIR: cache }), classifier);
  classifier.model.dispose();
  const e = gan(['eval', '--run', run, '--n', '20'], cache);
  assert.equal(e.code, 0, e.stderr);
  assert.doesNotMatch(e.stdout, /training a classifier/, 'the cached classifier of this data');
  assert.match(e.stdout, /classifier: trained on .*digits \(300 images, 10 classes, 64x64 rgb\)/);
  assert.match(e.stdout, /real digits \(20 random\)\s+20 /);
  assert.match(e.stdout, /run epoch 1\s+20 /);
  assert.match(e.stdout, /FID against 300 images of .*digits in the 128-d feature space of a classifier trained on that data/);
  const [record] = parseEvalsLog(fs.readFileSync(path.join(run, 'evals.jsonl'), 'utf8'));
  assert.equal(record.feature_space, `data:${key.slice(0, 12)}`);

  // gan report: report.html shows the latest grid, in colour (the grid file itself, embedded).
  const r = gan(['report', '--run', run], cache);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*report\.html \(1 epoch, /);
  const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
  assert.match(html, /classifier of the run&#39;s data \([0-9a-f]{12}\)/, 'the report names the feature space');
  const embedded = /<img[^>]* alt="samples after epoch 1" src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/.exec(html);
  assert.ok(embedded, 'the report shows the grid of epoch 1');
  const shown = PNG.sync.read(Buffer.from(embedded[1], 'base64'));
  assert.deepEqual([shown.width, shown.height], [grid.width, grid.height]);
  assert.ok(colourCount(shown.data) > shown.width * shown.height * 0.5, 'the report grid is in colour');
  assert.ok(Buffer.from(shown.data).equals(Buffer.from(grid.data)), "the report shows the epoch's grid");
});

test("the colour run's exported page in headless Chromium: its grid in colour, exactly the pixels gan sample writes", async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`${CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium`);
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    return;
  }
  const { work, cache, run } = await trainedColourRun();
  const site = path.join(work, 'site');
  const e = gan(['export', '--run', run, '--web', site], cache);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /wrote a web page for step-000000038 \(epoch 1\) to /);
  const info = JSON.parse(fs.readFileSync(path.join(site, 'gan-model.json'), 'utf8'));
  assert.deepEqual([info.arch, info.imageSize, info.channels], ['dcgan', 64, 3]);

  const server = await serveChild(['--web', site]);
  const context = await chromium.launchPersistentContext(tmpDir('gan-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const problems: string[] = [];
  context.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
  try {
    // On tfjs's plain-JS backend the page does gan sample --backend cpu's arithmetic: the same
    // bytes. On the page's default backend against gan sample's, a byte may round apart by one.
    for (const backend of ['cpu', undefined]) {
      const page = await context.newPage();
      await page.goto(`${server.url}?seed=5&n=6${backend ? `&backend=${backend}` : ''}`);
      await page.evaluate(() => (window as unknown as { gan: { ready: Promise<void> } }).gan.ready);
      const shown = await page.evaluate(() => {
        const c = document.getElementById('grid') as HTMLCanvasElement;
        return {
          backend: (window as unknown as { gan: { backend: string } }).gan.backend,
          width: c.width,
          cols: Number(c.dataset.cols),
          rgba: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data),
        };
      });
      await page.close();
      t.diagnostic(`the page ran on tfjs's ${shown.backend} backend`);
      const rgba = Uint8Array.from(shown.rgba);
      assert.ok(
        colourCount(rgba) > (rgba.length / 4) * 0.5,
        `the page's grid (backend ${shown.backend}) is in colour: ${colourCount(rgba)} pixels whose channels are ${COLOUR_SPREAD} levels apart`,
      );
      const files = path.join(work, `page-samples-${backend ?? 'default'}`);
      const s = gan(
        ['sample', '--run', run, '--seed', '5', '--n', '6', '--out', `${files}/`, ...(backend ? ['--backend', backend] : [])],
        cache,
      );
      assert.equal(s.code, 0, s.stderr);
      for (let k = 0; k < 6; k++) {
        const file = PNG.sync.read(fs.readFileSync(path.join(files, `sample-000${k}.png`)));
        // Tile k of the grid: padding 2 around and between the 64x64 tiles, row by row.
        const [x0, y0] = [2 + 66 * (k % shown.cols), 2 + 66 * Math.floor(k / shown.cols)];
        let far = 0;
        for (let y = 0; y < 64; y++)
          for (let x = 0; x < 64; x++)
            for (let c = 0; c < 3; c++)
              far = Math.max(far, Math.abs(rgba[4 * ((y0 + y) * shown.width + x0 + x) + c] - file.data[4 * (y * 64 + x) + c]));
        assert.ok(
          far <= (backend === 'cpu' ? 0 : 1),
          `sample ${k} on the page (backend ${shown.backend}) differs from gan sample's file by up to ${far}`,
        );
      }
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
});

test('the colour run resumed reads the cache; a changed folder is other data, and the resume is refused', async () => {
  const { data, cache, run } = await trainedColourRun();
  const r = gan(['train', '--resume', '--out', run, '--epochs', '2'], cache);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /decoded/, 'the resume reads the cache');
  assert.match(r.stdout, /resuming .* \(epoch 1 done/);

  // A changed folder is other data: the resume is refused, the run untouched.
  const before = listing(run);
  fs.copyFileSync(path.join(data, '4', fs.readdirSync(path.join(data, '4'))[0]), path.join(data, '3', 'extra.png'));
  const changed = gan(['train', '--resume', '--out', run, '--epochs', '3'], cache);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /the training data differs from the data .* started with \(301 images/);
  assert.deepEqual(listing(run), before);
});

test('--conditional on class subfolders: labels and class names from the folders, one grid row per class', async () => {
  const work = tmpDir();
  const data = path.join(work, 'digits');
  await writeMnistFolder(data, { perClass: 8, size: 32 });
  const run = path.join(work, 'run');
  const t = gan(
    ['train', '--data', data, '--conditional', '--image-size', '32', '--color', 'gray', '--epochs', '1', '--seed', '2', '--out', run],
    path.join(work, 'cache'),
  );
  assert.equal(t.code, 0, t.stderr);
  const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
  assert.equal(info.config.classes, 10);
  assert.equal(info.config.color, 'gray');
  assert.deepEqual(info.data.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const grid = PNG.sync.read(fs.readFileSync(path.join(run, 'samples', 'epoch-0001.png')));
  assert.equal(grid.height, 10 * 32 + 11 * 2, 'one row per class');

  // gan sample --class NAME draws that class folder's label; a name the run lacks is refused, listing its classes.
  const files = path.join(work, 'threes');
  const s = gan(['sample', '--run', run, '--class', '3', '--n', '4', '--out', `${files}/`], path.join(work, 'cache'));
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /wrote 4 samples of class 3 as 32x32 gray PNG files/);
  assert.equal(fs.readdirSync(files).length, 4);
  const bad = gan(['sample', '--run', run, '--class', 'cat'], path.join(work, 'cache'));
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr.trim(),
    `gan: error: --class cat: ${run} has no class 'cat'. Pass one of its classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9`,
  );
});

/**
 * Channels this far apart make a pixel coloured: a generator that draws gray still rounds its
 * channels a level apart here and there.
 */
const COLOUR_SPREAD = 10;

/** Pixels of RGBA data whose channels differ by COLOUR_SPREAD levels or more. */
function colourCount(rgba: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < rgba.length; i += 4)
    if (Math.max(rgba[i], rgba[i + 1], rgba[i + 2]) - Math.min(rgba[i], rgba[i + 1], rgba[i + 2]) >= COLOUR_SPREAD) n++;
  return n;
}

/** The share of a GIF's pixels in colour, in its first frame as a viewer shows it. */
function gifColourShare(gif: Buffer): number {
  const reader = new GifReader(gif);
  const rgba = new Uint8Array(reader.width * reader.height * 4);
  reader.decodeAndBlitFrameRGBA(0, rgba);
  return colourCount(rgba) / (reader.width * reader.height);
}

/** A PNG whose header says 30000 x 30000 (1-bit gray): a decompression bomb of 900 megapixels in 110 kB. */
function bombPng(): Buffer {
  const side = 30000;
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(tb));
    return Buffer.concat([len, tb, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // 1-bit gray
  const rows = zlib.deflateSync(Buffer.alloc((1 + side / 8) * 1000)); // the first 1000 rows are enough to be a PNG
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', rows),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('folders that cannot be trained on: one line each, exit 1, no run and no cache written', async () => {
  const work = tmpDir();
  const good = await sharp(Buffer.alloc(16 * 16 * 3, 90), { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toBuffer();
  const tiny = await sharp(Buffer.alloc(3, 90), { raw: { width: 1, height: 1, channels: 3 } })
    .png()
    .toBuffer();
  const rows: Array<[string, (dir: string) => void, RegExp]> = [
    ['an empty folder', () => {}, /the data folder .* holds no files/],
    [
      'a folder of non-images',
      (d) => ['a.txt', 'b.csv', 'c.png'].forEach((f) => fs.writeFileSync(path.join(d, f), 'text, not pixels')),
      /none of the 3 files in .* is an image the decoder reads \(a\.txt, b\.csv, c\.png\)/,
    ],
    [
      'a 1x1 image',
      (d) => (fs.writeFileSync(path.join(d, 'a.png'), good), fs.writeFileSync(path.join(d, 'dot.png'), tiny)),
      /dot\.png is only 1x1 pixels; images need at least 8x8/,
    ],
    [
      'a decompression bomb',
      (d) => (fs.writeFileSync(path.join(d, 'a.png'), good), fs.writeFileSync(path.join(d, 'bomb.png'), bombPng())),
      /bomb\.png is 30000x30000 pixels, more than the 67108864/,
    ],
    [
      'an unreadable file (a link to nothing)',
      (d) => (fs.writeFileSync(path.join(d, 'a.png'), good), fs.symlinkSync(path.join(d, 'gone.png'), path.join(d, 'b.png'))),
      /cannot read b\.png in the data folder \(it is a link to nothing\)/,
    ],
    [
      '--conditional without class folders',
      (d) => fs.writeFileSync(path.join(d, 'a.png'), good),
      /--conditional needs labels: .* has no class subfolders/,
    ],
    [
      '--conditional with one class folder',
      (d) => (fs.mkdirSync(path.join(d, 'cat')), fs.writeFileSync(path.join(d, 'cat', 'a.png'), good)),
      /--conditional needs two classes at least: .* has one class folder \(cat\)/,
    ],
  ];
  for (const [what, fill, message] of rows) {
    const data = fs.mkdtempSync(path.join(work, 'data-'));
    fill(data);
    const cache = path.join(work, `cache-${path.basename(data)}`);
    const run = path.join(work, `run-${path.basename(data)}`);
    const before = listing(data);
    const flags = what.startsWith('--conditional') ? ['--conditional'] : [];
    const r = gan(['train', '--data', data, '--epochs', '1', '--out', run, ...flags], cache);
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, got ${r.stderr}`);
    assert.ok(!fs.existsSync(run), `${what}: no run folder`);
    assert.deepEqual(listing(cache), [], `${what}: nothing cached`);
    assert.deepEqual(listing(data), before, `${what}: the data untouched`);
  }
});
