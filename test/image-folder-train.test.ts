/**
 * Training on a folder of pictures, as a user does it: MNIST digits written out as 64x64 RGB
 * PNG and JPEG files by class (each in random colours, beside a file that is no image), the
 * DCGAN trained on them at 64x64 in colour for an epoch, then resumed from the cache. And the
 * folders that cannot be trained on: one line each, a non-zero exit, nothing on disk changed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { tmpDir } from './helpers';
import { writeMnistFolder } from './image-fixtures';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

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

test('a folder of MNIST digits in colour, 64x64: the DCGAN trains an epoch in rgb, its grid is in colour, and a resume reads the cache', async () => {
  const work = tmpDir();
  const data = path.join(work, 'digits');
  const made = await writeMnistFolder(data, { perClass: 30, size: 64, jpegEvery: 10 });
  assert.deepEqual(made, { files: 300, jpegs: 30 });
  fs.writeFileSync(path.join(data, 'README.txt'), 'MNIST digits, coloured\n');
  const cache = path.join(work, 'cache');
  const run = path.join(work, 'run');
  const t = gan(['train', '--data', data, '--arch', 'dcgan', '--channels', '4', '--epochs', '1', '--seed', '2', '--out', run], cache);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /decoded 300 images of .* at 64x64/);
  assert.match(t.stdout, /warning: skipped 1 file that is no image: README\.txt/);
  assert.match(t.stdout, /run .*: 300 images, 5 iterations of 64 per epoch/);
  const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
  assert.equal(info.config.imageSize, 64, 'a folder defaults to 64x64');
  assert.equal(info.config.color, 'rgb', "the data's own colour");
  assert.deepEqual(info.data.classes, undefined, 'class names only for a conditional run');
  const grid = PNG.sync.read(fs.readFileSync(path.join(run, 'samples', 'epoch-0001.png')));
  assert.equal(grid.width, 8 * 64 + 9 * 2, 'an 8x8 grid of 64x64 tiles');
  let colourful = 0;
  for (let i = 0; i < grid.width * grid.height; i++) {
    const [r, g, b] = grid.data.subarray(4 * i, 4 * i + 3);
    if (r !== g || g !== b) colourful++;
  }
  assert.ok(colourful > grid.width * grid.height * 0.5, `the grid is in colour: ${colourful} pixels whose channels differ`);

  // gan sample --out DIR/: one colour PNG per sample; a latent walk and the timeline in colour too.
  const files = path.join(work, 'files');
  const s = gan(['sample', '--run', run, '--n', '3', '--out', `${files}/`], cache);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /wrote 3 samples as 64x64 rgb PNG files sample-0000\.png \.\.\. sample-0002\.png /);
  assert.deepEqual(fs.readdirSync(files), ['sample-0000.png', 'sample-0001.png', 'sample-0002.png']);
  const one = PNG.sync.read(fs.readFileSync(path.join(files, 'sample-0001.png')));
  assert.equal(one.width, 64);
  assert.ok(colourCount(one.data) > 0, 'a sample in colour');
  const again = gan(['sample', '--run', run, '--n', '2', '--out', files], cache);
  assert.match(again.stdout, /\(replaced 2 files of those names that were there\)/, 'an existing folder takes files too');
  assert.equal(fs.readdirSync(files).length, 3, 'the third file left alone');
  const idx = gan(['sample', '--run', run, '--out', path.join(work, 's.idx')], cache);
  assert.equal(idx.code, 2);
  assert.match(idx.stderr, /IDX files hold MNIST's 28x28 gray images; this run makes 64x64 rgb ones/);
  const walk = path.join(work, 'walk.gif');
  const w = gan(['sample', '--run', run, '--n', '2', '--interpolate', '2', '--frames', '2', '--out', walk], cache);
  assert.equal(w.code, 0, w.stderr);
  assert.ok(gifHasColour(fs.readFileSync(walk)), 'the walk GIF is in colour');
  assert.ok(gifHasColour(fs.readFileSync(path.join(run, 'timeline.gif'))), 'the timeline GIF is in colour');

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

/** Pixels of RGBA data whose channels differ. */
function colourCount(rgba: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < rgba.length; i += 4) if (rgba[i] !== rgba[i + 1] || rgba[i + 1] !== rgba[i + 2]) n++;
  return n;
}

/** Whether a GIF's global colour table holds a colour that is not gray (gan's gray GIFs hold the 256 grays). */
function gifHasColour(gif: Buffer): boolean {
  assert.equal(gif.toString('latin1', 0, 6), 'GIF89a');
  const flags = gif[10];
  assert.ok(flags & 0x80, 'a global colour table');
  const entries = 2 << (flags & 7);
  for (let i = 0; i < entries; i++) {
    const [r, g, b] = gif.subarray(13 + 3 * i, 16 + 3 * i);
    if (r !== g || g !== b) return true;
  }
  return false;
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
