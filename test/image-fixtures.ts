/**
 * Real data as a folder of pictures: MNIST training digits written out as PNG (and some JPEG)
 * files in one subfolder per digit, at a given size, in RGB, each digit in a random colour on a
 * random dark background (seeded, so every run of the tests writes the same files).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadImages } from '../src/data/mnist';
import { Rng } from '../src/core/rng';

/** MNIST digits 0-9, `perClass` of each, as DIR/<digit>/<index>.png (every `jpegEvery`-th as .jpg). */
export async function writeMnistFolder(
  dir: string,
  opts: { perClass: number; size?: number; jpegEvery?: number; seed?: number },
): Promise<{ files: number; jpegs: number }> {
  const size = opts.size ?? 64;
  const mnist = loadImages({ labels: true, limit: 20 * opts.perClass + 200 });
  const rng = Rng.for(opts.seed ?? 20, 99);
  const taken = new Array(10).fill(0);
  let files = 0;
  let jpegs = 0;
  for (let i = 0; i < mnist.n && files < 10 * opts.perClass; i++) {
    const digit = mnist.labels![i];
    if (taken[digit] >= opts.perClass) continue;
    taken[digit]++;
    const fg = [128 + rng.int(128), rng.int(256), rng.int(256)];
    const bg = [rng.int(64), rng.int(64), rng.int(64)];
    const rgb = Buffer.alloc(28 * 28 * 3);
    for (let p = 0; p < 28 * 28; p++) {
      const a = mnist.pixels[i * 784 + p] / 255;
      for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(bg[c] * (1 - a) + fg[c] * a);
    }
    const jpeg = opts.jpegEvery !== undefined && files % opts.jpegEvery === 0;
    const img = sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } }).resize(size, size, { kernel: 'linear' });
    fs.mkdirSync(path.join(dir, String(digit)), { recursive: true });
    const file = path.join(dir, String(digit), `${String(i).padStart(5, '0')}.${jpeg ? 'jpg' : 'png'}`);
    fs.writeFileSync(file, await (jpeg ? img.jpeg({ quality: 90 }) : img.png()).toBuffer());
    files++;
    if (jpeg) jpegs++;
  }
  return { files, jpegs };
}
