/**
 * What a run shows, through the built command: the report gan train refreshes, latent-walk GIFs,
 * the exported web page in a real headless Chromium (driven by playwright-core, never a
 * downloaded browser), and the failures of report / export / serve.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { decodeGifFrames, serveChild, tmpDir } from './helpers';
import { Rng, Stream } from '../src/core/rng';
import { loadBackend, type Tf } from '../src/backends';
import { loadRunModel, sampleRun } from '../src/run/sample';
import { pixelsFromNoise } from '../src/nets/gan-model';
import { tileImages } from '../src/core/image/tile';
import { slerp } from '../src/core/latent';
import { gridPng } from '../src/core/image/grid';
import { writeMnistFolder } from './image-fixtures';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const CHROMIUM = '/usr/bin/chromium';

function gan(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLineFailure(r: { code: number | null; stderr: string }, code: number, message: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

const work = tmpDir('gan-web-');
/** A plain MLP run and a conditional one, one epoch on 512 images each, and one that keeps an EMA generator. */
const plainRun = path.join(work, 'plain');
const condRun = path.join(work, 'cond');
const emaRun = path.join(work, 'ema');

before(() => {
  for (const [dir, extra] of [
    [plainRun, []],
    [condRun, ['--conditional']],
    // A fast average (0.5): after 8 steps the EMA generator is far from the raw one.
    [emaRun, ['--ema', '0.5']],
  ] as const) {
    const t = gan(['train', '--epochs', '1', '--limit', '512', '--seed', '3', '--out', dir, ...extra]);
    assert.equal(t.code, 0, t.stderr);
  }
});

test('gan train refreshes the report after every epoch: report.html, plots/, a timeline frame per epoch', () => {
  for (const f of ['report.html', 'timeline.gif', 'plots/losses.png', 'plots/losses.svg', 'plots/discriminator.png', 'plots/speed.svg']) {
    assert.ok(fs.existsSync(path.join(plainRun, f)), f);
  }
  assert.equal(decodeGifFrames(fs.readFileSync(path.join(plainRun, 'timeline.gif'))).frames.length, 1);
  const r = gan(['report', '--run', condRun]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*report\.html \(1 epoch, 3 charts .* a 1-frame .*timeline\.gif\) in \d/);
});

test('gan sample --interpolate 8 --out walk.gif: neighbouring frames differ less than random pairs; a conditional walk reaches digit d + 1 at its next point', async () => {
  const walk = path.join(work, 'walk.gif');
  const r = gan(['sample', '--run', plainRun, '--interpolate', '8', '--n', '4', '--out', walk]);
  assert.match(r.stdout, /\(96 frames, 4 walks side by side\)/);
  assert.equal(r.code, 0, r.stderr);
  const gif = decodeGifFrames(fs.readFileSync(walk));
  assert.equal(gif.frames.length, 8 * 12);
  const diff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
  const n = gif.frames.length;
  const neighbours = gif.frames.map((f, i) => diff(f, gif.frames[(i + 1) % n]));
  const rng = Rng.for(1, 99);
  const random = Array.from({ length: 200 }, () => diff(gif.frames[rng.int(n)], gif.frames[rng.int(n)]));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(neighbours) < 0.5 * mean(random), `neighbours ${mean(neighbours).toFixed(2)} vs random pairs ${mean(random).toFixed(2)}`);
  // The walk starts where gan sample --n 4 does: its first frame is that grid.
  const grid = path.join(work, 'first.png');
  assert.equal(gan(['sample', '--run', plainRun, '--n', '4', '--out', grid]).code, 0);
  const png = PNG.sync.read(fs.readFileSync(grid));
  assert.deepEqual(
    Array.from(gif.frames[0]),
    Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]),
  );

  // A conditional walk lays its digits out one per column (ten columns), starts at the digits
  // 0-9 gan sample --n 10 draws (one per row there) and morphs them.
  const condWalk = path.join(work, 'cond-walk.gif');
  const c = gan(['sample', '--run', condRun, '--interpolate', '2', '--frames', '4', '--out', condWalk]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /10 walks, one digit per column, each morphing into the next/);
  const cgif = decodeGifFrames(fs.readFileSync(condWalk));
  assert.equal(cgif.frames.length, 8);
  assert.deepEqual([cgif.width, cgif.height], [10 * 28 + 11 * 2, 28 + 2 * 2]);
  const digits = path.join(work, 'digits.png');
  assert.equal(gan(['sample', '--run', condRun, '--n', '10', '--out', digits]).code, 0);
  const dpng = PNG.sync.read(fs.readFileSync(digits));
  assert.deepEqual([dpng.width, dpng.height], [28 + 2 * 2, 10 * 28 + 11 * 2]);
  const tile = (gray: (i: number) => number, width: number, x0: number, y0: number) =>
    Array.from({ length: 28 * 28 }, (_, i) => gray((y0 + Math.floor(i / 28)) * width + x0 + (i % 28)));
  for (let d = 0; d < 10; d++)
    assert.deepEqual(
      tile((i) => cgif.frames[0][i], cgif.width, 2 + 30 * d, 2),
      tile((i) => dpng.data[4 * i], dpng.width, 2, 2 + 30 * d),
      `digit ${d}`,
    );
  // Frame 3 is 3/4 along the first leg, towards digit j + 1; frame 4 starts the second leg,
  // where digit j has become j + 1. Each against the same frame without the morph.
  const far = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  for (const frame of [3, 4]) {
    const shape = { walks: 10, points: 2, perLeg: 4, frame };
    const [want, unmorphed] = [await walkFrame(condRun, { ...shape, morph: true }), await walkFrame(condRun, { ...shape, morph: false })];
    // This process draws on tfjs's cpu backend, gan sample on wasm: bytes may round apart by one.
    assert.ok(far(cgif.frames[frame], want) <= 1, `frame ${frame}: max difference ${far(cgif.frames[frame], want)}`);
    assert.ok(diff(cgif.frames[frame], unmorphed) > 10 * diff(cgif.frames[frame], want), `frame ${frame} is not the unmorphed one`);
  }

  // Plain gan sample on a conditional run: ten of every digit, one row each; --n 64 is rounded up to 70.
  const shares = gan(['sample', '--run', condRun, '--n', '64', '--out', path.join(work, 'shares.png')]);
  assert.match(shares.stdout, /grid of 70 samples, 7 of every digit .*\(--n 64 rounded up to 70 .*\), one row per digit/);
  const spng = PNG.sync.read(fs.readFileSync(path.join(work, 'shares.png')));
  assert.deepEqual([spng.width, spng.height], [7 * 28 + 8 * 2, 10 * 28 + 11 * 2]);
});

test('bad input: report without metrics or grids, an unwritable or foreign --web DIR, a port in use; nothing written', async () => {
  const bare = path.join(work, 'bare');
  fs.mkdirSync(bare);
  fs.copyFileSync(path.join(plainRun, 'run.json'), path.join(bare, 'run.json'));
  oneLineFailure(gan(['report', '--run', bare]), 1, /has no metrics yet.*Train at least one epoch/);
  fs.copyFileSync(path.join(plainRun, 'metrics.jsonl'), path.join(bare, 'metrics.jsonl'));
  oneLineFailure(gan(['report', '--run', bare]), 1, /has no sample grids/);
  assert.deepEqual(fs.readdirSync(bare).sort(), ['metrics.jsonl', 'run.json']);

  const file = path.join(work, 'a-file');
  fs.writeFileSync(file, 'x');
  oneLineFailure(gan(['export', '--run', plainRun, '--web', path.join(file, 'site')]), 2, /a-file is a file, not a folder/);
  // A folder nobody may write to, root included (sysfs refuses new entries).
  oneLineFailure(
    gan(['export', '--run', plainRun, '--web', '/sys/gan-site']),
    1,
    /cannot write the site to \/sys\/gan-site: (permission denied|the file system is read-only).*--web DIR.*nothing was written/,
  );
  assert.ok(!fs.existsSync('/sys/gan-site'));
  const foreign = path.join(work, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  oneLineFailure(gan(['export', '--run', plainRun, '--web', foreign]), 2, /is not empty and is not a gan web export/);
  assert.deepEqual(fs.readdirSync(foreign), ['notes.txt']);
  oneLineFailure(gan(['export', '--run', plainRun]), 2, /needs --web DIR/);
  assert.deepEqual(
    fs.readdirSync(work).filter((n) => n.includes('.tmp-')),
    [],
  );

  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    oneLineFailure(
      gan(['serve', '--run', plainRun, '--port', String(port)]),
      1,
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use.*--port`),
    );
  } finally {
    blocker.close();
  }
  assert.ok(!fs.existsSync(path.join(plainRun, 'web')), 'serve wrote nothing');
  oneLineFailure(gan(['serve', '--port', '70000']), 2, /--port must be a whole number from 0 to 65535/);
});

/**
 * gan sample's pixels, through the library in this process on tfjs's plain-JS backend (the
 * page's cpu backend runs the same code): the grid PNG `gan sample --backend cpu` writes.
 */
let cpuTf: Tf | undefined;
async function samplePixels(run: string, opts: { seed: number; n: number; digit?: number }): Promise<number[]> {
  const tf = (cpuTf ??= (await loadBackend('cpu')).tf);
  const s = await sampleRun(tf, run, opts);
  const cols = s.labels && opts.digit === undefined ? Math.ceil(s.n / 10) : undefined;
  const png = PNG.sync.read(gridPng(s.pixels, s.n, s.size, s.size, { cols }));
  return Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]);
}

/**
 * Frame f of a latent walk of gan sample (seed 0, walks in one column), drawn here: walk j goes
 * from its point k to point k + 1 on leg k (its points are the (k * walks + j)-th vectors of the
 * sampling stream), by slerp at t = (f mod F) / F; a conditional run's digit for walk j is then
 * (1 - t) of digit j + k and t of digit j + k + 1, mixed in the label embedding (morph: false
 * keeps digit j).
 */
async function walkFrame(
  run: string,
  w: { walks: number; points: number; perLeg: number; frame: number; morph: boolean },
): Promise<Uint8Array> {
  const tf = (cpuTf ??= (await loadBackend('cpu')).tf);
  const { model } = loadRunModel(tf, run);
  const latent = model.config.latentDim;
  const [leg, t] = [Math.floor(w.frame / w.perLeg), (w.frame % w.perLeg) / w.perLeg];
  const noise = Rng.for(0, Stream.sample).fillNormal(new Float32Array(w.points * w.walks * latent));
  const point = (k: number, j: number) =>
    noise.subarray(((k % w.points) * w.walks + j) * latent, ((k % w.points) * w.walks + j + 1) * latent);
  const z = new Float32Array(w.walks * latent);
  for (let j = 0; j < w.walks; j++) z.set(slerp(point(leg, j), point(leg + 1, j), t), j * latent);
  if (w.morph) {
    const table = model.generator.get('g_embedding/embeddings');
    const e = table.dataSync();
    const dim = table.shape[1]!;
    const mixed = Float32Array.from({ length: 10 * dim }, (_, i) => {
      const [d, c] = [Math.floor(i / dim), i % dim];
      return (1 - t) * e[((d + leg) % 10) * dim + c] + t * e[((d + leg + 1) % 10) * dim + c];
    });
    tf.tidy(() => table.assign(tf.tensor2d(mixed, [10, dim])));
  }
  const zt = tf.tensor2d(z, [w.walks, latent]);
  const pixels = await pixelsFromNoise(
    tf,
    model,
    zt,
    Int32Array.from({ length: w.walks }, (_, j) => j % 10),
  );
  zt.dispose();
  model.dispose();
  // Laid out as gan sample lays out a conditional walk: one digit per column.
  return tileImages(pixels, w.walks, 28, 28, { cols: Math.min(w.walks, 10) }).gray;
}

type Grid = { width: number; height: number; gray: number[]; rgb?: number[] };
const gridOf = (page: Page) => page.evaluate(() => (window as unknown as { gan: { gridPixels(): Grid } }).gan.gridPixels());
const differing = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v !== b[i] ? 1 : 0), 0);
const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** A slider moves the chosen digit's latent point; Play animates a walk, and stops. */
async function slidersAndWalk(page: Page): Promise<void> {
  const focus = () =>
    page.evaluate(() =>
      Array.from((document.getElementById('focus') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data),
    );
  const before = await focus();
  await page.evaluate(() => {
    const s = document.querySelector('#sliders input') as HTMLInputElement;
    s.value = '-3';
    s.dispatchEvent(new Event('input'));
    const t = document.querySelectorAll('#sliders input')[1] as HTMLInputElement;
    t.value = '3';
    t.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(
    (b) =>
      Array.from((document.getElementById('focus') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data).some(
        (v, i) => v !== b[i],
      ),
    before,
  );
  const walkPixels = () =>
    page.evaluate(() =>
      Array.from((document.getElementById('walk') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data),
    );
  await page.click('#play');
  const w0 = await walkPixels();
  await page.waitForFunction(
    (b) =>
      Array.from((document.getElementById('walk') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data).some(
        (v, i) => v !== b[i],
      ),
    w0,
  );
  await page.click('#play');
}

async function openPage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(() => (window as unknown as { gan: { ready: Promise<void> } }).gan.ready);
  return page;
}

test("the exported page in headless Chromium: local only, no console error, Generate, digit picker, sliders, walk, and gan sample's pixels", async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`${CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium`);
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    return;
  }
  const site = path.join(work, 'site');
  const e = gan(['export', '--run', condRun, '--web', site]);
  assert.equal(e.code, 0, e.stderr);
  const html = fs.readFileSync(path.join(site, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  assert.ok(fs.existsSync(path.join(site, 'vendor', 'tf.min.js')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(site, 'gan-model.json'), 'utf8')).conditional, true);

  const servers = await Promise.all([serveChild(['--run', condRun]), serveChild(['--run', plainRun]), serveChild(['--run', emaRun])]);
  const context = await chromium.launchPersistentContext(tmpDir('gan-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  const offsite: string[] = [];
  const problems: string[] = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'file:') return route.continue();
    offsite.push(u.href);
    return route.abort();
  });
  context.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
  try {
    const [cond, plain, ema] = servers.map((s) => s.url);

    // The conditional run on the page's default backend.
    const page = await openPage(context, `${cond}?seed=7&n=20`);
    assert.equal(await page.isVisible('#digit-picker'), true, 'a conditional run shows the digit picker');
    const first = await gridOf(page);
    const cli = await samplePixels(condRun, { seed: 7, n: 20 });
    assert.equal(first.gray.length, cli.length);
    // Another backend's float arithmetic may round a pixel the other way: at most one level.
    assert.ok(
      maxDiff(first.gray, cli) <= 1,
      `page (${await page.evaluate(() => (window as unknown as { gan: { backend: string } }).gan.backend)}) vs gan sample: ${differing(first.gray, cli)} pixels differ, by up to ${maxDiff(first.gray, cli)}`,
    );

    // Generate: the next seed, new digits, with strokes on a dark background.
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('seed')!.textContent!.startsWith('seed 8'));
    const generated = await gridOf(page);
    assert.ok(differing(generated.gray, first.gray) > generated.gray.length / 4, 'Generate drew new digits');
    // Images, not a blank canvas (after one short epoch they are blotches rather than digits).
    const mean = generated.gray.reduce((a, b) => a + b, 0) / generated.gray.length;
    const sd = Math.sqrt(generated.gray.reduce((a, b) => a + (b - mean) ** 2, 0) / generated.gray.length);
    assert.ok(sd > 10, `the grid holds images (pixel standard deviation ${sd.toFixed(1)})`);

    // The digit picker: all 3s, as gan sample --digit 3 draws them.
    await page.selectOption('#digit', '3');
    await page.waitForFunction(() => document.getElementById('seed')!.textContent!.includes('--digit 3'));
    const threes = await gridOf(page);
    assert.ok(differing(threes.gray, generated.gray) > threes.gray.length / 4, 'the digit picker changed the grid');
    assert.ok(maxDiff(threes.gray, await samplePixels(condRun, { seed: 8, n: 20, digit: 3 })) <= 1);

    assert.match((await page.textContent('#backend'))!, /backend (webgl|wasm|cpu)/);
    assert.match((await page.textContent('#timing'))!, /[\d.]+ ms per generation/);
    await page.close();

    // The same arithmetic on both sides (tfjs's plain-JS backend): the same latent vectors and
    // exactly gan sample's pixels, for the plain MLP (no digit picker) too, and for a run with an
    // EMA generator, which both the page and gan sample draw from.
    for (const [url, run, conditional] of [
      [cond, condRun, true],
      [plain, plainRun, false],
      [ema, emaRun, false],
    ] as const) {
      const p = await openPage(context, `${url}?seed=5&n=20&backend=cpu`);
      assert.equal(await p.isVisible('#digit-picker'), conditional);
      const latents = await p.evaluate(() => (window as unknown as { gan: { latents(): number[] } }).gan.latents());
      assert.deepEqual(latents, Array.from(Rng.for(5, Stream.sample).fillNormal(new Float32Array(20 * 100))));
      const g = await gridOf(p);
      const c = await samplePixels(run, { seed: 5, n: 20 });
      assert.equal(differing(g.gray, c), 0, `${run}: the page on cpu equals gan sample --backend cpu`);
      if (conditional) await slidersAndWalk(p);
      await p.close();
    }
    assert.deepEqual(offsite, [], 'no request left 127.0.0.1');
    assert.deepEqual(problems, []);

    // A conditional run's digits come in equal shares, one row per digit: n=64 shows 70, 7 a row.
    const shares = await openPage(context, `${cond}?seed=7&n=64`);
    assert.equal(await shares.evaluate(() => document.getElementById('grid')!.dataset.cols), '7');
    assert.match((await shares.textContent('#seed'))!, /--n 70\b/);
    await shares.close();
    // Opened from the disk, the page says how to serve it (its modules never run there).
    const fromDisk = await context.newPage();
    await fromDisk.goto(`file://${path.join(site, 'index.html')}`);
    assert.match((await fromDisk.textContent('#status'))!, /cannot run from the disk.*gan serve --web /);
    await fromDisk.close();
  } finally {
    await context.close();
    for (const s of servers) {
      const exited = new Promise((resolve) => s.child.once('exit', resolve));
      s.child.kill('SIGTERM');
      await exited;
    }
  }
});

test('an rgb run on class folders in headless Chromium: the page draws colour, exactly as gan sample, and its picker lists the class names', async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`${CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium`);
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    return;
  }
  const data = path.join(work, 'colour-digits');
  await writeMnistFolder(data, { perClass: 8, size: 16 });
  fs.renameSync(path.join(data, '3'), path.join(data, 'three'));
  const run = path.join(work, 'rgb');
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'train',
      '--data',
      data,
      '--conditional',
      '--image-size',
      '16',
      '--batch-size',
      '16',
      '--epochs',
      '1',
      '--seed',
      '3',
      '--out',
      run,
    ],
    { encoding: 'utf8', env: { ...process.env, DEBUG: '', GAN_CACHE_DIR: path.join(work, 'cache') } },
  );
  assert.equal(r.status, 0, r.stderr);
  const site = path.join(work, 'rgb-site');
  assert.equal(gan(['export', '--run', run, '--web', site]).code, 0);
  const info = JSON.parse(fs.readFileSync(path.join(site, 'gan-model.json'), 'utf8'));
  assert.equal(info.channels, 3);
  assert.deepEqual(info.classNames, ['0', '1', '2', '4', '5', '6', '7', '8', '9', 'three']);

  const server = await serveChild(['--run', run]);
  const context = await chromium.launchPersistentContext(tmpDir('gan-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await openPage(context, `${server.url}?seed=5&n=20&backend=cpu`);
    const options = await page.$$eval('#digit option', (os) => os.map((o) => o.textContent));
    assert.deepEqual(options.slice(1), info.classNames);
    const g = await gridOf(page);
    const tf = (cpuTf ??= (await loadBackend('cpu')).tf);
    const s = await sampleRun(tf, run, { seed: 5, n: 20 });
    const png = PNG.sync.read(gridPng(s.pixels, s.n, s.size, s.size, { cols: s.cols, channels: 3 }));
    const rgb = Array.from({ length: png.width * png.height * 3 }, (_, i) => png.data[4 * Math.floor(i / 3) + (i % 3)]);
    assert.ok(g.rgb, 'the page reads colour');
    assert.equal(g.rgb!.length, rgb.length);
    assert.equal(differing(g.rgb!, rgb), 0, 'the page on cpu draws the colours gan sample --backend cpu writes');
    assert.ok(
      differing(
        g.rgb!.filter((_, i) => i % 3 === 0),
        g.rgb!.filter((_, i) => i % 3 === 1),
      ) > 0,
      'in colour',
    );
    await page.selectOption('#digit', { value: '9' });
    await page.waitForFunction(() => document.getElementById('seed')!.textContent!.includes('--class three'));
    await page.close();
  } finally {
    await context.close();
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    await exited;
  }
});
