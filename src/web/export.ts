/**
 * `gan export --web DIR`: a static site that runs a run's generator in the browser.
 *
 *   DIR/index.html, style.css      the page (src/web)
 *   DIR/app/                       its code, compiled as ES modules (dist/web)
 *   DIR/vendor/                    stock tfjs and its WebAssembly backend, copied from node_modules
 *   DIR/model/model.json, *.bin    the generator of the run's newest verified checkpoint
 *   DIR/gan-model.json             what the page needs to know about it (src/web/model-info.ts)
 *
 * Nothing is fetched from anywhere else. The site is assembled in a temporary folder beside DIR
 * and renamed into place; a DIR that holds something other than an earlier export is refused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { Tf } from '../backends/tf';
import { disposeLoaded, EMA_GENERATOR_DIR, loadLatestCheckpoint } from '../run/checkpoint';
import { ConfigError, GanError } from '../util/errors';
import { fsyncDir, ioError } from '../util/fs';
import { webModelInfo } from './model-info';
import { WEB_APP_DIR, WEB_SOURCE_DIR } from '../util/paths';

export const WEB_INFO_FILE = 'gan-model.json';
/** Where `gan serve` puts a run's site. */
export const RUN_WEB_DIR = 'web';

/** Files of the site that do not depend on the run: [source, path in the site]. */
export function staticSiteFiles(): Array<[string, string]> {
  const files: Array<[string, string]> = [
    [path.join(WEB_SOURCE_DIR, 'index.html'), 'index.html'],
    [path.join(WEB_SOURCE_DIR, 'style.css'), 'style.css'],
  ];
  const appDir = WEB_APP_DIR;
  if (!fs.existsSync(path.join(appDir, 'web', 'app.js'))) {
    throw new GanError(`the page's code is not built (${appDir} is missing)`, 'Run npm run build (npm ci does it) and try again');
  }
  for (const rel of fs.readdirSync(appDir, { recursive: true }) as string[]) {
    if (rel.endsWith('.js')) files.push([path.join(appDir, rel), path.join('app', rel)]);
  }
  const tfjs = path.dirname(require.resolve('@tensorflow/tfjs/package.json'));
  const wasm = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  files.push([path.join(tfjs, 'dist', 'tf.min.js'), 'vendor/tf.min.js']);
  files.push([path.join(wasm, 'dist', 'tf-backend-wasm.min.js'), 'vendor/tf-backend-wasm.min.js']);
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    files.push([path.join(wasm, 'dist', f), `vendor/${f}`]);
  }
  return files;
}

/** Refuses a DIR that exists and is not an earlier export (we replace those, nothing else). */
export function checkWebOutDir(dir: string): void {
  if (!fs.existsSync(dir)) {
    let ancestor = path.dirname(path.resolve(dir));
    while (!fs.existsSync(ancestor)) ancestor = path.dirname(ancestor);
    if (!fs.statSync(ancestor).isDirectory())
      throw new ConfigError(`--web ${dir}: ${ancestor} is a file, not a folder`, 'Choose a folder path for --web');
    return;
  }
  if (!fs.statSync(dir).isDirectory()) throw new ConfigError(`--web ${dir} is a file, not a folder`, 'Choose a folder path for --web');
  if (fs.readdirSync(dir).length > 0 && !fs.existsSync(path.join(dir, WEB_INFO_FILE))) {
    throw new ConfigError(
      `${dir} is not empty and is not a gan web export`,
      'Choose a new or empty folder for --web (an earlier export is replaced)',
    );
  }
}

export interface WebExport {
  dir: string;
  checkpoint: string;
  /** Which generator the page runs: the EMA one when the run kept it, as gan sample does. */
  generator: 'ema' | 'raw';
  epoch: number;
  files: number;
  bytes: number;
  skipped: string[];
}

/** Copies the run's generator and the page into `outDir`, replacing an earlier export whole. */
export function exportWeb(tf: Tf, runDir: string, outDir: string): WebExport {
  checkWebOutDir(outDir);
  const { checkpoint, skipped } = loadLatestCheckpoint(tf, runDir);
  disposeLoaded(checkpoint); // loading verified every file's checksum; the files are copied as they are
  const state = checkpoint.state;
  // The generator gan sample draws from: the EMA one where the run kept it (--ema), so that the
  // page's ?seed=S&n=N shows what `gan sample --seed S --n N` writes.
  const generator = checkpoint.emaGeneratorWeights ? 'ema' : 'raw';
  const generatorDir = path.join(checkpoint.dir, generator === 'ema' ? EMA_GENERATOR_DIR : 'generator');
  const modelJson = JSON.parse(fs.readFileSync(path.join(generatorDir, 'model.json'), 'utf8')) as {
    userDefinedMetadata?: Record<string, unknown>;
    weightsManifest: Array<{ paths: string[] }>;
  };
  const info = webModelInfo(
    state.config as Parameters<typeof webModelInfo>[0],
    {
      run: path.basename(path.resolve(runDir)),
      epoch: state.epoch,
      step: state.step,
      tfjsVersion: tf.version.tfjs,
      exportedAt: new Date().toISOString(),
    },
    modelJson.userDefinedMetadata,
    state.data?.classes,
  );
  const sources: Array<[string, string]> = [
    ...staticSiteFiles(),
    [path.join(generatorDir, 'model.json'), 'model/model.json'],
    ...modelJson.weightsManifest.flatMap((g) => g.paths.map((p): [string, string] => [path.join(generatorDir, p), `model/${p}`])),
  ];

  const parent = path.dirname(path.resolve(outDir));
  const tmp = path.join(parent, `.${path.basename(outDir)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  let bytes = 0;
  let createdParent: string | undefined;
  try {
    createdParent = fs.mkdirSync(parent, { recursive: true });
    fs.mkdirSync(tmp);
    for (const [src, rel] of sources) {
      const dest = path.join(tmp, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
      bytes += fs.statSync(dest).size;
    }
    const infoJson = JSON.stringify(info, null, 1) + '\n';
    fs.writeFileSync(path.join(tmp, WEB_INFO_FILE), infoJson);
    bytes += infoJson.length;
    fsyncDir(tmp);
    if (fs.existsSync(outDir)) {
      const aside = `${tmp}-old`;
      fs.renameSync(outDir, aside);
      fs.renameSync(tmp, outDir);
      fs.rmSync(aside, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, outDir);
    }
    fsyncDir(parent);
  } catch (e) {
    for (const leftover of [tmp, createdParent]) {
      try {
        if (leftover) fs.rmSync(leftover, { recursive: true, force: true });
      } catch {
        // nothing was made there (a part of the path is a file): nothing to clean
      }
    }
    const err = ioError(e, 'write the site to', outDir);
    throw new GanError(err.message, 'Choose a folder you can write to with --web DIR; nothing was written');
  }
  return { dir: outDir, checkpoint: checkpoint.dir, epoch: state.epoch, generator, files: sources.length + 1, bytes, skipped };
}
