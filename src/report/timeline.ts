/**
 * The training timeline: the per-epoch grids of a run (samples/epoch-NNNN.png, all from the
 * run's fixed noise, so each cell shows one noise vector's digit as training goes) as one GIF:
 * gray frames stored exactly, colour frames (an rgb run's grids) with a palette each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../util/errors';
import { decodePng } from '../core/image/grid';
import { imageGifChunk, joinGifChunks } from '../core/image/gif';
import { SAMPLES_DIR } from '../run/run-dir';

export interface EpochGrid {
  epoch: number;
  file: string;
}

/** The run's per-epoch grids, in epoch order. */
export function listEpochGrids(runDir: string): EpochGrid[] {
  const dir = path.join(runDir, SAMPLES_DIR);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => ({ m: /^epoch-(\d+)\.png$/.exec(name), name }))
    .filter((x): x is { m: RegExpExecArray; name: string } => x.m !== null)
    .map((x) => ({ epoch: Number(x.m[1]), file: path.join(dir, x.name) }))
    .sort((a, b) => a.epoch - b.epoch);
}

/** Rows of the progress band under each frame: how far through `totalEpochs` the frame is. */
export const BAND_HEIGHT = 6;

/**
 * One frame: the grid, then a band whose bright part grows with the epoch, so the GIF shows
 * where in training each frame is without any text to rasterise.
 */
export function timelineFrame(
  grid: Uint8Array,
  width: number,
  height: number,
  epoch: number,
  totalEpochs: number,
  channels = 1,
): Uint8Array {
  const c = channels;
  const frame = new Uint8Array(width * (height + BAND_HEIGHT) * c).fill(128);
  frame.set(grid);
  const filled = Math.round((width - 4) * Math.min(1, epoch / Math.max(1, totalEpochs)));
  for (let y = height + 1; y < height + BAND_HEIGHT - 1; y++) {
    const row = y * width;
    frame.fill(40, (row + 2) * c, (row + width - 2) * c);
    frame.fill(255, (row + 2) * c, (row + 2 + filled) * c);
  }
  return frame;
}

/** Frame delays: long enough to see each epoch, and a pause on the last (the current state). */
export const TIMELINE_DELAY_MS = 400;
export const TIMELINE_LAST_DELAY_MS = 2000;

export interface Timeline {
  gif: Uint8Array;
  /** Epochs shown, in order. */
  epochs: number[];
  width: number;
  height: number;
  /** The newest readable grid, as PNG bytes (the report shows it). */
  latest: { epoch: number; png: Uint8Array };
  /** Grids left out: unreadable, or of another size than the newest. */
  skipped: string[];
}

interface DecodedGrid {
  epoch: number;
  png: Uint8Array;
  /** width x height x channels bytes. */
  pixels: Uint8Array;
  channels: number;
  width: number;
  height: number;
}

/**
 * Decoded grids and encoded frames of earlier calls, by file and what they were made with: gan
 * train refreshes the report every epoch, and decoding 50 PNGs and encoding 50 frames again
 * each time would cost seconds, where only the newest frame is new.
 */
const decodedCache = new Map<string, { key: string; grid: DecodedGrid }>();
const chunkCache = new Map<string, Uint8Array>();

function decodeGrid(g: EpochGrid): DecodedGrid {
  const stat = fs.statSync(g.file);
  const key = `${stat.size}:${stat.mtimeMs}`;
  const hit = decodedCache.get(g.file);
  if (hit && hit.key === key) return hit.grid;
  const png = fs.readFileSync(g.file);
  checkGridSize(png);
  const grid = { epoch: g.epoch, png, ...decodePng(png) };
  decodedCache.set(g.file, { key, grid });
  return grid;
}

/**
 * The largest grid gan draws (10,000 samples) is about 3,000 pixels a side: a PNG whose header
 * claims far more is no grid of ours, and decoding it would allocate gigabytes. Refused first.
 */
const MAX_GRID_SIDE = 16384;
function checkGridSize(png: Uint8Array): void {
  if (png.length < 24) return; // the decoder names what is wrong
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const [width, height] = [view.getUint32(16), view.getUint32(20)];
  if (width > MAX_GRID_SIDE || height > MAX_GRID_SIDE) throw new Error(`its header claims ${width}x${height} pixels, no grid of gan's`);
}

function frameChunk(d: DecodedGrid, file: string, totalEpochs: number, first: boolean, delayMs: number): Uint8Array {
  const key = `${file}:${d.width}x${d.height}x${d.channels}:${totalEpochs}:${first}:${delayMs}:${decodedCache.get(file)?.key}`;
  let chunk = chunkCache.get(key);
  if (!chunk) {
    const frame = timelineFrame(d.pixels, d.width, d.height, d.epoch, totalEpochs, d.channels);
    chunk = imageGifChunk(frame, d.width, d.height + BAND_HEIGHT, d.channels, { first, delayMs });
    chunkCache.set(key, chunk);
  }
  return chunk;
}

/** The timeline GIF of the given grids. Unreadable grids, and grids of another size than the newest, are left out. */
export function timelineGif(grids: EpochGrid[], totalEpochs: number): Timeline {
  const skipped: string[] = [];
  const decoded: Array<{ grid: DecodedGrid; file: string }> = [];
  for (const g of grids) {
    try {
      decoded.push({ grid: decodeGrid(g), file: g.file });
    } catch (e) {
      skipped.push(`${g.file}: ${(e as Error).message}`);
    }
  }
  const newest = decoded[decoded.length - 1]?.grid;
  if (!newest)
    throw new DataError(
      `none of the ${grids.length} sample grids can be read (${skipped[0]})`,
      'Retrain, or resume, so that gan train writes new ones',
    );
  const same = decoded.filter(({ grid: d }) => {
    const ok = d.width === newest.width && d.height === newest.height;
    if (!ok) skipped.push(`epoch ${d.epoch}: its grid is ${d.width}x${d.height}, the newest is ${newest.width}x${newest.height}`);
    return ok;
  });
  const chunks = same.map(({ grid, file }, i) =>
    frameChunk(grid, file, totalEpochs, i === 0, i === same.length - 1 ? TIMELINE_LAST_DELAY_MS : TIMELINE_DELAY_MS),
  );
  return {
    gif: joinGifChunks(chunks),
    epochs: same.map(({ grid }) => grid.epoch),
    width: newest.width,
    height: newest.height + BAND_HEIGHT,
    latest: { epoch: newest.epoch, png: newest.png },
    skipped,
  };
}
