/**
 * The exported generator's page: runs model/model.json with stock tfjs (vendor/tf.min.js, no
 * network beyond the page's own folder), draws grids, a latent point to edit with sliders, a
 * digit picker for conditional runs, and a latent walk.
 *
 * It draws noise exactly as `gan sample` does (the same seeded generator, compiled from
 * src/core/rng.ts) and turns outputs into bytes and grids with the same code (src/image), so
 * `?seed=S&n=N` shows the pixels of `gan sample --seed S --n N` (bit for bit on the same
 * backend arithmetic; see the test).
 *
 * URL parameters: seed, n (digits in the grid), backend (webgl, wasm, cpu), digit (0-9).
 * Tests and scripts drive it through window.gan (see GanPage below).
 */
import type * as tfType from '@tensorflow/tfjs';
import { Rng, Stream } from '../core/rng.js';
import { latentWalk } from '../core/latent.js';
import { cropCenter, toBytes } from '../core/image/pixels.js';
import { tileImages } from '../core/image/tile.js';
import { equalShares, sampleLabels } from '../core/labels.js';
import type { WebModelInfo } from './model-info.js';

declare const tf: typeof tfType & { wasm?: { setWasmPaths(prefix: string): void } };

interface Generated {
  /** n images of info.imageSize^2 x channels bytes. */
  pixels: Uint8Array;
  ms: number;
}

/** What window.gan offers scripts and tests. */
interface GanPage {
  ready: Promise<void>;
  info?: WebModelInfo;
  backend?: string;
  /** Draws a grid: noise from `seed` (as gan sample --seed), or the given latents [n * latentDim]. */
  generate(opts?: { seed?: number; n?: number; latents?: Float32Array | number[]; digit?: number | null }): Promise<void>;
  /** The grid canvas's pixels (what gan sample writes as a PNG): gray (the red channel), and rgb for a colour run. */
  gridPixels(): { width: number; height: number; gray: number[]; rgb?: number[] };
  /** The latent vectors of the grid on show, [n * latentDim]. */
  latents(): number[];
  lastMs?: number;
  error?: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const PADDING = 2;
const PAD_VALUE = 128;
const WALK_FRAMES = 24;
const WALK_POINTS = 4;

let model: tfType.LayersModel;
let info: WebModelInfo;
let seed = Number(params.get('seed') ?? 0) >>> 0;
/** Digits asked for (?n=); a conditional run's default is ten of every digit, set when the model is known. */
let count = Math.min(256, Math.max(0, Math.floor(Number(params.get('n')) || 0)));
let gridLatents: Float32Array = new Float32Array(0);
let gridLabels: Int32Array = new Int32Array(0);
let focus = 0;
let focusZ: Float32Array = new Float32Array(0);
let walking = false;

/** Noise as `gan sample --seed S` draws it: n * latentDim normals from (seed, Stream.sample). */
function seededLatents(s: number, n: number): Float32Array {
  return Rng.for(s, Stream.sample).fillNormal(new Float32Array(n * info.latentDim));
}

function chosenDigit(): number | null {
  const v = ($('digit') as HTMLSelectElement).value;
  return info.conditional && v !== 'all' ? Number(v) : null;
}

function labelsFor(n: number, digit: number | null): Int32Array {
  return sampleLabels(n, digit ?? undefined, info.numClasses);
}

/** Digits on show: as gan sample draws them, every digit in equal shares (count rounded up to a multiple of ten) unless one is picked. */
function shownCount(): number {
  return info.conditional && chosenDigit() === null ? equalShares(count, info.numClasses) : count;
}

/** Runs the generator on latents [n, latentDim] (and labels) and returns bytes, cropped to imageSize. */
async function run(z: Float32Array, n: number, labels?: Int32Array): Promise<Generated> {
  const t0 = performance.now();
  const out = tf.tidy(() => {
    const inputs: tfType.Tensor[] = [tf.tensor2d(z, [n, info.latentDim])];
    if (info.conditional) {
      const shape = model.inputs[1].shape;
      const dtype = model.inputs[1].dtype === 'int32' ? 'int32' : 'float32';
      inputs.push(shape.length === 1 ? tf.tensor1d(labels!, dtype) : tf.tensor2d(labels!, [n, 1], dtype));
    }
    return model.predict(inputs.length === 1 ? inputs[0] : inputs) as tfType.Tensor;
  });
  const values = (await out.data()) as Float32Array;
  out.dispose();
  const ms = performance.now() - t0;
  const side = Math.round(Math.sqrt(values.length / n / channels()));
  return { pixels: toBytes(cropCenter(values, n, side, info.imageSize, channels())), ms };
}

/** Values per pixel of the generator's images: 3 for an rgb run (exports before colour say nothing: gray). */
function channels(): number {
  return info.channels === 3 ? 3 : 1;
}

/** Draws width x height pixels of channels() bytes each (gray or rgb) onto a canvas. */
function drawImage(canvas: HTMLCanvasElement, pixels: Uint8Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const image = new ImageData(width, height);
  const c = channels();
  for (let i = 0; i < width * height; i++) {
    image.data[4 * i] = pixels[c * i];
    image.data[4 * i + 1] = pixels[c * i + (c === 3 ? 1 : 0)];
    image.data[4 * i + 2] = pixels[c * i + (c === 3 ? 2 : 0)];
    image.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(image, 0, 0);
}

function showTiming(ms: number, what: string): void {
  page.lastMs = ms;
  $('timing').textContent = `${ms.toFixed(1)} ms per generation (${what})`;
}

async function generate(opts: { seed?: number; n?: number; latents?: Float32Array | number[]; digit?: number | null } = {}): Promise<void> {
  if (opts.n !== undefined) count = opts.n;
  if (opts.seed !== undefined) seed = opts.seed >>> 0;
  if (opts.digit !== undefined) ($('digit') as HTMLSelectElement).value = opts.digit === null ? 'all' : String(opts.digit);
  const n = shownCount();
  const z = opts.latents ? Float32Array.from(opts.latents) : seededLatents(seed, n);
  if (z.length !== n * info.latentDim) throw new Error(`latents: need ${n} x ${info.latentDim} numbers, got ${z.length}`);
  gridLatents = z;
  gridLabels = labelsFor(n, chosenDigit());
  const g = await run(z, n, gridLabels);
  // As gan sample lays out a conditional grid: one digit per row.
  const cols = info.conditional && chosenDigit() === null ? n / info.numClasses : undefined;
  const { layout, gray } = tileImages(g.pixels, n, info.imageSize, info.imageSize, {
    padding: PADDING,
    padValue: PAD_VALUE,
    cols,
    channels: channels(),
  });
  drawImage($('grid'), gray, layout.width, layout.height);
  // Shown at twice its size, pixels kept square; the caption wraps under it.
  $('grid').style.width = `${2 * layout.width}px`;
  $('grid').parentElement!.style.maxWidth = `${Math.max(2 * layout.width + 2, 240)}px`;
  $('grid').dataset.cols = String(layout.cols);
  $('seed').textContent = opts.latents
    ? 'latents given by a script'
    : `seed ${seed}: the same ${info.classNames ? 'images' : 'digits'} as gan sample --seed ${seed} --n ${n}${info.conditional && chosenDigit() !== null ? (info.classNames ? ` --class ${info.classNames[chosenDigit()!]}` : ` --digit ${chosenDigit()}`) : ''}`;
  showTiming(g.ms, `${n} digits`);
  await setFocus(Math.min(focus, n - 1));
}

/** The digit under the sliders: a copy of one grid cell's latent vector. */
async function setFocus(cell: number): Promise<void> {
  focus = cell;
  focusZ = gridLatents.slice(cell * info.latentDim, (cell + 1) * info.latentDim);
  const sliders = $('sliders').querySelectorAll('input');
  sliders.forEach((s, i) => ((s as HTMLInputElement).value = focusZ[i].toFixed(2)));
  await drawFocus();
}

async function drawFocus(): Promise<void> {
  const g = await run(focusZ, 1, gridLabels.subarray(focus, focus + 1));
  drawImage($('focus'), g.pixels, info.imageSize, info.imageSize);
  if (!walking) drawImage($('walk'), g.pixels, info.imageSize, info.imageSize);
}

function buildSliders(): void {
  const box = $('sliders');
  for (let i = 0; i < info.latentDim; i++) {
    const label = document.createElement('label');
    label.textContent = `z${i}`;
    const input = document.createElement('input');
    input.type = 'range';
    input.min = '-3';
    input.max = '3';
    input.step = '0.01';
    input.value = '0';
    input.addEventListener('input', () => {
      focusZ[i] = Number(input.value);
      void drawFocus();
    });
    label.appendChild(input);
    box.appendChild(label);
  }
}

/** Animates a slerp walk from the focused digit through random points and back. */
async function walk(): Promise<void> {
  if (walking) {
    walking = false;
    return;
  }
  walking = true;
  $('play').textContent = 'Stop';
  const rng = Rng.for(seed, Stream.sample, 1 + focus);
  const points = [
    Float32Array.from(focusZ),
    ...Array.from({ length: WALK_POINTS - 1 }, () => rng.fillNormal(new Float32Array(info.latentDim))),
  ];
  const frames = latentWalk(points, WALK_FRAMES);
  const label = gridLabels.subarray(focus, focus + 1);
  for (let f = 0; walking; f = (f + 1) % frames.length) {
    const g = await run(frames[f], 1, label);
    drawImage($('walk'), g.pixels, info.imageSize, info.imageSize);
    showTiming(g.ms, '1 digit');
    await new Promise((r) => setTimeout(r, 40));
  }
  $('play').textContent = 'Play';
}

/** A run on class folders: the picker lists its class names (the option's value is the label). */
function nameClasses(names: string[]): void {
  const select = $('digit') as HTMLSelectElement;
  const picker = $('digit-picker');
  picker.firstChild!.textContent = 'class ';
  while (select.options.length > 1) select.remove(1);
  names.forEach((name, i) => {
    const option = document.createElement('option');
    option.value = String(i);
    option.textContent = name;
    select.appendChild(option);
  });
}

function webglAvailable(): boolean {
  const c = document.createElement('canvas');
  return !!(c.getContext('webgl2') ?? c.getContext('webgl'));
}

/** The requested backend, or the fastest that starts here: WebGL, then WebAssembly, then plain JS. */
async function startBackend(requested: string | null): Promise<string> {
  tf.wasm?.setWasmPaths(new URL('vendor/', location.href).href);
  const order = requested ? [requested] : ['webgl', 'wasm', 'cpu'];
  for (const name of order) {
    if (name === 'webgl' && !webglAvailable()) continue;
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return tf.getBackend();
      }
    } catch {
      // try the next one
    }
  }
  throw new Error(`no tfjs backend started (tried ${order.join(', ')})`);
}

async function start(): Promise<void> {
  tf.enableProdMode();
  info = (await (await fetch('gan-model.json')).json()) as WebModelInfo;
  page.info = info;
  count ||= info.conditional ? 10 * info.numClasses : 64;
  page.backend = await startBackend(params.get('backend'));
  model = await tf.loadLayersModel('model/model.json');
  document.title = `gan: ${info.run}`;
  $('title').textContent = `gan: ${info.run}`;
  $('about').textContent =
    `${info.arch}${info.conditional ? ', conditional' : ''} generator after epoch ${info.epoch} (step ${info.step}); z has ${info.latentDim} dimensions`;
  $('backend').textContent = `tfjs ${tf.version.tfjs}, backend ${page.backend}`;
  if (info.conditional) {
    $('digit-picker').hidden = false;
    if (info.classNames) nameClasses(info.classNames);
    const d = params.get('digit');
    if (d !== null) ($('digit') as HTMLSelectElement).value = d;
  }
  buildSliders();
  $('generate').addEventListener('click', () => void generate({ seed: seed + 1 }));
  $('digit').addEventListener('change', () => void generate());
  $('play').addEventListener('click', () => void walk());
  $('grid').addEventListener('click', (e) => {
    const canvas = $('grid') as HTMLCanvasElement;
    const rect = canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * canvas.width;
    const y = ((e.clientY - rect.top) / rect.height) * canvas.height;
    const cols = Number(canvas.dataset.cols);
    const cell = Math.floor(y / (info.imageSize + PADDING)) * cols + Math.floor(x / (info.imageSize + PADDING));
    if (cell >= 0 && cell < shownCount()) void setFocus(cell);
  });
  // One untimed run first: WebGL compiles its shaders on the first call (seconds), which is
  // not what "ms per generation" should report.
  await run(new Float32Array(shownCount() * info.latentDim), shownCount(), labelsFor(shownCount(), null));
  await generate();
  $('status').textContent = '';
}

const page: GanPage = {
  ready: Promise.resolve(),
  generate,
  gridPixels() {
    const c = $('grid') as HTMLCanvasElement;
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const gray: number[] = [];
    for (let i = 0; i < data.length; i += 4) gray.push(data[i]);
    if (channels() !== 3) return { width: c.width, height: c.height, gray };
    const rgb: number[] = [];
    for (let i = 0; i < data.length; i += 4) rgb.push(data[i], data[i + 1], data[i + 2]);
    return { width: c.width, height: c.height, gray, rgb };
  },
  latents: () => Array.from(gridLatents),
};
page.ready = start().catch((e: unknown) => {
  page.error = e instanceof Error ? e.message : String(e);
  $('status').textContent = `error: ${page.error}`;
  throw e;
});
(window as unknown as { gan: GanPage }).gan = page;
