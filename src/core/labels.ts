/**
 * Which digit each sample of a conditional run shows. No imports: shared with the browser page
 * (src/web), so the page asks for the same digits as `gan sample`.
 */

/** The classes of a conditional run: the ten digits. */
export const LABEL_CLASSES = 10;

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
