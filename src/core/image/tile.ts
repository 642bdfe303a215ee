/**
 * Tiling N equally sized images (gray, or rgb with 3 bytes per pixel) into one picture. No imports: this module is also
 * compiled for the browser (src/web), so the page lays out its grid exactly as `gan sample` does.
 */
export interface GridLayout {
  rows: number;
  cols: number;
  width: number;
  height: number;
}

/** Near-square: cols = ceil(sqrt(n)) unless given (64 -> 8 x 8, 10 -> 4 x 3). */
export function gridLayout(n: number, tileH: number, tileW: number, opts: { cols?: number; padding?: number } = {}): GridLayout {
  if (n < 1) throw new Error('gridLayout: need at least one image');
  const padding = opts.padding ?? 2;
  const cols = Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / cols);
  return {
    rows,
    cols,
    width: cols * tileW + (cols + 1) * padding,
    height: rows * tileH + (rows + 1) * padding,
  };
}

/**
 * Places images (n x tileH x tileW pixels of `channels` bytes, row-major, channels last) into a
 * grid with `padding` pixels of `padValue` around every tile. Unused cells of the last row stay
 * `padValue`. `gray` holds the grid's bytes (`channels` per pixel; gray when that is 1).
 */
export function tileImages(
  pixels: Uint8Array,
  n: number,
  tileH: number,
  tileW: number,
  opts: { cols?: number; padding?: number; padValue?: number; channels?: number } = {},
): { layout: GridLayout; gray: Uint8Array } {
  const padding = opts.padding ?? 2;
  const c = opts.channels ?? 1;
  const layout = gridLayout(n, tileH, tileW, { cols: opts.cols, padding });
  const gray = new Uint8Array(layout.width * layout.height * c).fill(opts.padValue ?? 128);
  for (let k = 0; k < n; k++) {
    const r = Math.floor(k / layout.cols);
    const col = k % layout.cols;
    const y0 = padding + r * (tileH + padding);
    const x0 = padding + col * (tileW + padding);
    for (let y = 0; y < tileH; y++) {
      const src = (k * tileH + y) * tileW * c;
      gray.set(pixels.subarray(src, src + tileW * c), ((y0 + y) * layout.width + x0) * c);
    }
  }
  return { layout, gray };
}
