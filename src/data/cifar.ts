/**
 * CIFAR-10's binary version (cifar-10-batches-bin): data_batch_1.bin ... data_batch_5.bin, each
 * 10000 records of 1 label byte and 3072 pixel bytes (the 1024 red values of the 32 x 32 image
 * row by row, then green, then blue). Read as RGB bytes, channels last, with the labels;
 * batches.meta.txt, when present, names the classes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../util/errors';
import type { ImageSet } from './mnist';

const SIDE = 32;
const RECORD = 1 + 3 * SIDE * SIDE;
const BATCH = /^data_batch_\d+\.bin$/;

/** The training batches in `dir`, sorted; empty when it holds none. */
export function cifarBatches(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => BATCH.test(n))
      .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  } catch {
    return [];
  }
}

/** Every training image of the batches in `dir`, RGB, with its label. */
export function loadCifar(dir: string): ImageSet {
  const files = cifarBatches(dir);
  const parts = files.map((name) => {
    const bytes = fs.readFileSync(path.join(dir, name));
    if (bytes.length === 0 || bytes.length % RECORD !== 0)
      throw new DataError(`${path.join(dir, name)} is ${bytes.length} bytes, not a whole number of CIFAR-10 records of ${RECORD}`, 'Re-download it');
    return bytes;
  });
  const n = parts.reduce((k, p) => k + p.length / RECORD, 0);
  const plane = SIDE * SIDE;
  const pixels = new Uint8Array(n * 3 * plane);
  const labels = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    for (let r = 0; r < p.length; r += RECORD, i++) {
      labels[i] = p[r];
      if (p[r] > 9) throw new DataError(`${dir}: the label of record ${i} is ${p[r]}, not 0-9`, 'Re-download the CIFAR-10 batches');
      const out = i * 3 * plane;
      for (let j = 0; j < plane; j++) {
        pixels[out + 3 * j] = p[r + 1 + j];
        pixels[out + 3 * j + 1] = p[r + 1 + plane + j];
        pixels[out + 3 * j + 2] = p[r + 1 + 2 * plane + j];
      }
    }
  }
  let classNames: string[] | undefined;
  try {
    const meta = fs.readFileSync(path.join(dir, 'batches.meta.txt'), 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
    if (meta.length === 10) classNames = meta;
  } catch {
    // no names: the labels stay numbers
  }
  return { pixels, labels, n, rows: SIDE, cols: SIDE, channels: 3, classNames };
}
