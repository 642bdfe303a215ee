/**
 * Which digit each sample of a conditional run shows. No imports: shared with the browser page
 * (src/web), so the page asks for the same digits as `gan sample`.
 */

/** The classes of a conditional run: the ten digits. */
export const LABEL_CLASSES = 10;

/**
 * How many samples of a conditional run to draw for n asked: every digit in equal shares needs a
 * multiple of ten, so n is rounded up to one (the commands and the page say so when it changes).
 */
export function equalShares(n: number, classes = LABEL_CLASSES): number {
  return Math.ceil(n / classes) * classes;
}

/**
 * Labels for n samples of a conditional run: all `digit`, or else every digit in equal shares
 * in order (rows of a grid `cols` wide hold one digit each when cols = ceil(n / 10)).
 */
export function sampleLabels(n: number, digit?: number, classes = LABEL_CLASSES): Int32Array {
  const out = new Int32Array(n);
  const per = Math.ceil(n / classes);
  for (let i = 0; i < n; i++) out[i] = digit ?? Math.floor(i / per);
  return out;
}

/** Labels for a grid with one digit per column (ten columns): 0 1 2 ... 9 0 1 2 ... */
export function digitColumns(n: number, classes = LABEL_CLASSES): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % classes);
}
