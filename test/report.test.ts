/** The report's pure parts (charts, metrics, GIF frames, slerp) and the report of a synthesized run, without a backend. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import { decodeGifFrames, tmpDir } from './helpers';
import { latentWalk, slerp } from '../src/core/latent';
import { grayGif } from '../src/core/image/gif';
import { gridPng } from '../src/core/image/grid';
import { cropCenter } from '../src/core/image/pixels';
import { sampleLabels } from '../src/core/labels';
import { chartSpecs, seriesData } from '../src/report/charts';
import { parseMetricsLog, rowWarnings, type MetricsRow } from '../src/report/metrics-log';
import { BAND_HEIGHT, timelineFrame } from '../src/report/timeline';
import { buildReport, writeReport } from '../src/report/report';
import { Rng } from '../src/core/rng';
import { resolveTrainConfig } from '../src/config';

const norm = (v: Float32Array) => Math.hypot(...v);
const angle = (a: Float32Array, b: Float32Array) => Math.acos(a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b)));

test('slerp: endpoints, constant norm between equal-norm points, equal angles, and the parallel case', () => {
  const rng = Rng.for(1, 8);
  const a = rng.fillNormal(new Float32Array(100));
  const b0 = rng.fillNormal(new Float32Array(100));
  const b = b0.map((x) => (x * norm(a)) / norm(b0)); // same norm as a
  assert.deepEqual(Array.from(slerp(a, b, 0)), Array.from(a));
  for (let i = 0; i < 100; i++) assert.ok(Math.abs(slerp(a, b, 1)[i] - b[i]) < 1e-5);
  for (const t of [0.25, 0.5, 0.75]) {
    const m = slerp(a, b, t);
    assert.ok(Math.abs(norm(m) - norm(a)) < 1e-3 * norm(a), `norm at t=${t}`);
    assert.ok(Math.abs(angle(a, m) - t * angle(a, b)) < 1e-4, `angle at t=${t}`);
  }
  // A straight line would shrink the midpoint: slerp keeps it on the sphere.
  const lerpMid = a.map((x, i) => (x + b[i]) / 2);
  assert.ok(norm(lerpMid) < 0.9 * norm(a));
  const same = slerp(a, a, 0.3);
  for (let i = 0; i < 100; i++) assert.ok(Math.abs(same[i] - a[i]) < 1e-5);
  assert.throws(() => slerp(a, new Float32Array(3), 0.5));
});

test('latentWalk: F frames a leg, every point starts its leg, loops back without a repeated frame', () => {
  const pts = [0, 1, 2].map((k) => Rng.for(2, 8, k).fillNormal(new Float32Array(8)));
  const frames = latentWalk(pts, 4);
  assert.equal(frames.length, 12);
  for (let k = 0; k < 3; k++) assert.deepEqual(Array.from(frames[4 * k]), Array.from(pts[k]));
  const open = latentWalk(pts, 4, false);
  assert.equal(open.length, 9);
  assert.deepEqual(Array.from(open[8]), Array.from(pts[2]));
  // Neighbouring frames are closer than the points they pass through.
  const step = (i: number) => Math.hypot(...frames[i].map((x, d) => x - frames[(i + 1) % frames.length][d]));
  const legLength = Math.hypot(...pts[0].map((x, d) => x - pts[1][d]));
  for (let i = 0; i < frames.length; i++) assert.ok(step(i) < legLength / 2);
});

test('grayGif: a 256-level gray palette stores every frame exactly, with its delays, and loops', () => {
  const w = 13;
  const h = 7;
  const frames = [0, 1, 2].map((k) => Uint8Array.from({ length: w * h }, (_, i) => (i * 37 + k * 101) % 256));
  frames[1][0] = 0;
  frames[1][1] = 255;
  const bytes = grayGif(frames, w, h, { delayMs: 80, lastDelayMs: 500 });
  const back = decodeGifFrames(bytes);
  assert.deepEqual([back.width, back.height], [w, h]);
  assert.equal(back.frames.length, 3);
  frames.forEach((f, i) => assert.deepEqual(back.frames[i], f, `frame ${i}`));
  assert.deepEqual(back.delays, [8, 8, 50]);
  assert.equal(new GifReader(Buffer.from(bytes)).loopCount(), 0);
  assert.throws(() => grayGif([new Uint8Array(5)], w, h, { delayMs: 10 }), /holds 5 pixels/);
  assert.throws(() => grayGif([], w, h, { delayMs: 10 }), /no frames/);
});

test('shared pixel helpers: cropCenter cuts the centre, sampleLabels gives equal ordered shares', () => {
  const img = Uint8Array.from({ length: 2 * 16 }, (_, i) => i);
  assert.deepEqual(Array.from(cropCenter(img, 2, 4, 2)), [5, 6, 9, 10, 21, 22, 25, 26]);
  assert.equal(cropCenter(img, 2, 4, 4), img);
  assert.deepEqual(Array.from(sampleLabels(20)), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
  assert.deepEqual(Array.from(sampleLabels(4, 7)), [7, 7, 7, 7]);
});

function row(epoch: number, extra: Partial<MetricsRow> = {}): MetricsRow {
  return {
    epoch,
    step: 10 * epoch,
    d_loss: 1 + epoch / 10,
    g_loss: 0.8,
    d_real: 0.7,
    d_fake: 0.4,
    iterations: 10,
    seconds: 0.5,
    ms_per_iter: 20 + epoch,
    backend: 'wasm',
    batch_size: 64,
    ...extra,
  } as MetricsRow;
}

test('metrics log: cut and foreign lines are skipped, a redone epoch keeps its last line; warnings are read from either field', () => {
  const text = [row(1), row(2), row(2, { d_loss: 9 })].map((r) => JSON.stringify(r)).join('\n') + '\n{"epoch":3,"d_lo';
  const rows = parseMetricsLog(text + '\n["not", "a row"]\n');
  assert.deepEqual(
    rows.map((r) => r.epoch),
    [1, 2],
  );
  assert.equal(rows[1].d_loss, 9);
  assert.deepEqual(
    rowWarnings(row(1, { warnings: ['D wins'], diagnosis: { message: 'mode collapse' } } as unknown as Partial<MetricsRow>)),
    ['D wins', 'mode collapse'],
  );
  assert.deepEqual(rowWarnings(row(1)), []);
});

test('chartSpecs: losses, D outputs and speed always; FID, IS and coverage only when measured', () => {
  const plain = chartSpecs([row(1), row(2), row(3)]);
  assert.deepEqual(
    plain.map((c) => c.name),
    ['losses', 'discriminator', 'speed'],
  );
  const losses = plain[0].option as { series: Array<{ name: string; data: unknown }>; xAxis: { max: number } };
  assert.deepEqual(
    losses.series.map((s) => s.name),
    ['D loss', 'G loss'],
  );
  assert.deepEqual(losses.series[0].data, [
    [1, 1.1],
    [2, 1.2],
    [3, 1.3],
  ]);
  assert.equal(losses.xAxis.max, 3);
  const evaluated = chartSpecs([row(1), row(2, { fid: 40, inception_score: 7, classes_covered: 9 }), row(3, { fid: Number.NaN })]);
  assert.deepEqual(
    evaluated.map((c) => c.name),
    ['losses', 'discriminator', 'speed', 'fid', 'inception-score', 'coverage'],
  );
  assert.deepEqual(seriesData([row(1), row(2, { fid: 40 }), row(3, { fid: Number.NaN })], 'fid'), [[2, 40]]);
});

test('timelineFrame: the grid unchanged above a band that fills with the epoch', () => {
  const grid = Uint8Array.from({ length: 20 * 10 }, (_, i) => i % 256);
  const f = timelineFrame(grid, 20, 10, 1, 4);
  assert.equal(f.length, 20 * (10 + BAND_HEIGHT));
  assert.deepEqual(f.subarray(0, 200), grid);
  const bandRow = f.subarray(20 * 12, 20 * 13);
  assert.equal(bandRow.filter((v) => v === 255).length, 4); // a quarter of the 16 inner pixels
  const full = timelineFrame(grid, 20, 10, 4, 4).subarray(20 * 12, 20 * 13);
  assert.equal(full.filter((v) => v === 255).length, 16);
});

/** A run directory as gan train leaves it, made without training: run.json, metrics, grids. */
function fakeRun(dir: string, epochs: number): void {
  fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'run.json'),
    JSON.stringify({
      format: 'gan-run',
      version: 1,
      createdAt: '2026-01-01T00:00:00Z',
      config: resolveTrainConfig({ seed: 1, epochs: 5 }),
    }),
  );
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), Array.from({ length: epochs }, (_, i) => JSON.stringify(row(i + 1)) + '\n').join(''));
  for (let e = 1; e <= epochs; e++) {
    const pixels = Uint8Array.from({ length: 4 * 28 * 28 }, (_, i) => (i * 7 + e * 50) % 256);
    fs.writeFileSync(path.join(dir, 'samples', `epoch-${String(e).padStart(4, '0')}.png`), gridPng(pixels, 4, 28, 28));
  }
}

test('report of a 3-epoch run: self-contained page, SVG and PNG charts, a 3-frame timeline holding the grids', () => {
  const run = path.join(tmpDir(), 'run');
  fakeRun(run, 3);
  const r = writeReport(run);
  assert.equal(r.frames, 3);
  assert.equal(r.epochs, 3);
  for (const name of ['losses', 'discriminator', 'speed']) {
    const svg = fs.readFileSync(path.join(run, 'plots', `${name}.svg`), 'utf8');
    assert.match(svg, /^<svg[^>]*viewBox/);
    assert.match(svg, /<text[^>]*>[^<]*epoch/); // the axis is labelled
    const png = PNG.sync.read(fs.readFileSync(path.join(run, 'plots', `${name}.png`)));
    assert.deepEqual([png.width, png.height], [720, 360]);
    // The title was drawn: dark glyph pixels in the top rows (resvg draws no text without a font).
    let dark = 0;
    for (let i = 0; i < 36 * png.width * 4; i += 4) if (png.data[i] < 128) dark++;
    assert.ok(dark > 30, `${name}.png has its title (${dark} dark pixels)`);
  }
  const gif = decodeGifFrames(fs.readFileSync(path.join(run, 'timeline.gif')));
  assert.equal(gif.frames.length, 3);
  for (let e = 1; e <= 3; e++) {
    const grid = PNG.sync.read(fs.readFileSync(path.join(run, 'samples', `epoch-000${e}.png`)));
    assert.deepEqual([gif.width, gif.height], [grid.width, grid.height + BAND_HEIGHT]);
    for (let i = 0; i < grid.width * grid.height; i++) assert.equal(gif.frames[e - 1][i], grid.data[4 * i], `frame ${e} pixel ${i}`);
  }
  const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
  // Opens offline: nothing to fetch (SVG namespace URIs are names, not requests).
  assert.doesNotMatch(html, /<script|<link|@import|(src|href)\s*=\s*["']?(https?:)?\/\/|url\(\s*["']?https?:/i);
  assert.match(html, /<img[^>]+src="data:image\/png;base64,/);
  assert.match(html, /<img[^>]+src="data:image\/gif;base64,/);
  assert.equal((html.match(/<svg/g) ?? []).length, 3);
  assert.match(html, /No diagnosis warnings/);
  // The config table: flag names, and only what applies (no DCGAN width for an MLP, no trick that is off).
  assert.match(html, /<td>--latent-dim<\/td>/);
  assert.doesNotMatch(html, /latentDim|--channels|--replay-fraction|--debug/);
});

test('report refuses a run with no metrics or no grids, and writes nothing', () => {
  const base = tmpDir();
  const noMetrics = path.join(base, 'a');
  fakeRun(noMetrics, 2);
  fs.rmSync(path.join(noMetrics, 'metrics.jsonl'));
  assert.throws(() => writeReport(noMetrics), /has no metrics yet/);
  const noGrids = path.join(base, 'b');
  fakeRun(noGrids, 2);
  fs.rmSync(path.join(noGrids, 'samples'), { recursive: true });
  assert.throws(() => writeReport(noGrids), /has no sample grids/);
  for (const dir of [noMetrics, noGrids]) {
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => /report|plots|timeline/.test(n)),
      [],
    );
  }
  assert.throws(() => buildReport(path.join(base, 'none')), /is not a run directory/);
});

test('everything in a run folder is untrusted: hostile metrics and run.json text is escaped, odd values dropped, the page stays script-free', () => {
  const dir = path.join(tmpDir(), 'run-<script>alert(0)</script>');
  fakeRun(dir, 2);
  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>';
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...info, createdAt: evil }));
  const lines = [
    row(1),
    row(2, {
      step: evil,
      d_loss: 'abc',
      fid: evil,
      best: evil,
      backend: evil,
      warnings: [evil],
      diagnosis: { mode: evil, message: evil },
    } as never),
    { epoch: evil },
    { epoch: 1.5 },
  ];
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join('') + '{"epoch": 3, "d_l');
  // A grid whose header claims 100000 x 100000 pixels is left out, not decoded.
  const bomb = Buffer.from(gridPng(new Uint8Array(784), 1, 28, 28));
  bomb.writeUInt32BE(100000, 16);
  bomb.writeUInt32BE(100000, 20);
  fs.writeFileSync(path.join(dir, 'samples', 'epoch-0003.png'), bomb);
  const rows = parseMetricsLog(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'));
  assert.deepEqual(
    rows.map((r) => r.epoch),
    [1, 2],
  );
  for (const key of ['step', 'd_loss', 'fid', 'best']) assert.equal(key in rows[1], false, `${key} dropped`);
  const html = buildReport(dir).files.find(([name]) => name === 'report.html')![1] as string;
  assert.doesNotMatch(html, /<script|<img src=x|<[^>]*\son\w+\s*=/i);
  assert.match(html, /&lt;script&gt;alert\(1\)/, 'the text is shown, escaped');
  assert.match(html, /epoch-0003\.png: its header claims 100000x100000 pixels/);
});
