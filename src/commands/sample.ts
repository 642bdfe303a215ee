/** `gan sample`: a PNG grid, or an IDX3 file of samples for other tools, from a run's generator. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBackend, type BackendChoice } from '../backends';
import { encodeIdx3 } from '../data/idx';
import { ConfigError } from '../util/errors';
import { ioError, writeFileAtomic } from '../util/fs';
import { encodeGrayPng, encodeRgbPng, gridPng } from '../core/image/grid';
import { imageGif } from '../core/image/gif';
import { runToRead } from '../run/run-dir';
import { classIndex, runClassNames, sampleRun, sampleWalk, type Samples } from '../run/sample';
import { newestVerifiedCheckpoint } from '../run/checkpoint';

import { plural } from '../util/text';
import { printLine } from './output';

/** Latent walks: frames per leg between two points, and how long each frame shows. */
export const WALK_FRAMES_PER_SEGMENT = 12;
export const WALK_FRAME_MS = 80;

export interface SampleCommandOptions {
  /** Samples (with interpolate: walks side by side); default 64 (16 walks), for a conditional run 100 (10 walks). */
  n?: number;
  /** A latent walk through this many random points, written as a GIF. */
  interpolate?: number;
  /** Frames per leg of the walk. */
  frames?: number;
  /** Default: grid.png, or walk.gif with interpolate; a default name that exists becomes grid-2.png, ... */
  out?: string;
  run?: string;
  seed: number;
  nrow?: number;
  /** Conditional runs: only this digit. */
  digit?: number;
  /** Conditional runs: only this class, by name (a class folder of the run's data, or a digit). */
  className?: string;
  /** Sample the trained generator even when the run kept an EMA generator. */
  raw?: boolean;
  backend: BackendChoice;
  /** Threads of the wasm backend (default: all CPUs). */
  threads?: number;
  log?: (line: string) => void;
}

type OutputKind = 'png' | 'idx' | 'gif' | 'folder';

/**
 * `.idx` or MNIST's own `-idx3-ubyte` suffix selects the IDX3 format; `.png` a grid; a trailing
 * slash or an existing folder one PNG file per sample.
 */
export function outputKind(out: string): OutputKind {
  if (/[/\\]$/.test(out) || (fs.existsSync(out) && fs.statSync(out).isDirectory())) return 'folder';
  if (out.endsWith('.idx') || out.endsWith('-idx3-ubyte')) return 'idx';
  if (out.toLowerCase().endsWith('.png')) return 'png';
  if (out.toLowerCase().endsWith('.gif')) return 'gif';
  throw new ConfigError(
    `--out ${out}: unknown file type`,
    'End it in .png for a grid, / for a folder of PNG files, .idx / -idx3-ubyte for an MNIST-format sample file, or .gif with --interpolate K',
  );
}

/**
 * Where to write: --out as given (an existing file is replaced, and the line says so), or the
 * default name, numbered when it exists (grid.png, grid-2.png, ...) so that nothing is replaced
 * unasked.
 */
function outputFile(opts: SampleCommandOptions): { file: string; replaces: boolean } {
  if (opts.out !== undefined) return { file: opts.out, replaces: fs.existsSync(opts.out) };
  const [stem, ext] = opts.interpolate !== undefined ? ['walk', '.gif'] : ['grid', '.png'];
  let file = `${stem}${ext}`;
  for (let k = 2; fs.existsSync(file); k++) file = `${stem}-${k}${ext}`;
  return { file, replaces: false };
}

/** Refuses flags that do not go together, before anything loads. */
function checkFlags(opts: SampleCommandOptions, out: string): OutputKind {
  const kind = outputKind(out);
  if (opts.digit !== undefined && opts.className !== undefined)
    throw new ConfigError('--digit and --class both pick the class to draw', 'Pass one of them');
  if (kind === 'folder' && opts.interpolate !== undefined)
    throw new ConfigError(
      `--interpolate writes a GIF, not the folder ${out}`,
      'End --out in .gif, e.g. --out walk.gif, or leave --out out',
    );
  if (kind === 'folder' && fs.existsSync(out) && !fs.statSync(out).isDirectory())
    throw new ConfigError(`--out ${out}: ${out.replace(/[/\\]+$/, '')} is a file, not a folder`, 'Choose a folder path for --out DIR/');
  if ((kind === 'gif') !== (opts.interpolate !== undefined)) {
    throw new ConfigError(
      opts.interpolate !== undefined ? `--interpolate writes a GIF, not ${out}` : `--out ${out}: a GIF is a latent walk`,
      opts.interpolate !== undefined
        ? 'End --out in .gif, e.g. --out walk.gif, or leave --out out'
        : 'Add --interpolate K (K random points to walk through), or end --out in .png',
    );
  }
  if (opts.frames !== undefined && opts.interpolate === undefined)
    throw new ConfigError('--frames needs --interpolate K', 'Add --interpolate K, or drop --frames');
  return kind;
}

export async function sampleCommand(opts: SampleCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  const { file, replaces } = outputFile(opts);
  const kind = checkFlags(opts, file);
  const runDir = runToRead(opts.run);
  checkAgainstRun(runDir, opts, kind, file);
  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);
  const to = `${file}${replaces ? ' (replaced the file that was there)' : ''}`;
  if (opts.interpolate !== undefined) {
    const walk = await sampleWalk(backend.tf, runDir, {
      walks: opts.n,
      points: opts.interpolate,
      framesPerSegment: opts.frames ?? WALK_FRAMES_PER_SEGMENT,
      seed: opts.seed,
    });
    for (const why of walk.skipped) log(`skipped a damaged checkpoint: ${why}`);
    writeFileAtomic(file, imageGif(walk.frames, walk.width, walk.height, walk.channels, { delayMs: WALK_FRAME_MS }));
    const side = walk.morphs ? `, one digit per column, each morphing into the next on every leg` : ' side by side';
    log(
      `wrote a latent walk through ${opts.interpolate} points (${plural(walk.frames.length, 'frame')}, ${plural(walk.walks, 'walk')}${side})${rounded(opts.n, walk.walks)} from ${path.basename(walk.checkpoint)} (epoch ${walk.epoch}) to ${to}`,
    );
    return;
  }
  const s = await sampleRun(backend.tf, runDir, {
    n: opts.n,
    seed: opts.seed,
    digit: opts.digit,
    className: opts.className,
    raw: opts.raw,
  });
  const classes = s.classNames?.length ?? 10;
  // The digits of MNIST (and of folders named 0-9) are digits; other class folders are classes.
  const noun = s.classNames?.every((name, i) => name === String(i)) !== false ? 'digit' : 'class';
  const what =
    (s.labels
      ? opts.className !== undefined
        ? ` of class ${opts.className}`
        : opts.digit !== undefined
          ? ` of digit ${opts.digit}`
          : `, ${s.n / classes} of every ${noun}`
      : '') +
    (s.generator === 'ema' ? ' (EMA generator)' : '') +
    rounded(opts.n, s.n, classes, noun);
  for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
  const from = `from ${path.basename(s.checkpoint)} (epoch ${s.epoch}) to ${to}`;
  if (kind === 'folder') {
    const { replaced } = writeSampleFiles(file, s);
    const colour = s.channels === 3 ? 'rgb' : 'gray';
    log(
      `wrote ${plural(s.n, 'sample')}${what} as ${s.size}x${s.size} ${colour} PNG files ${sampleFileName(0)} ... ${sampleFileName(s.n - 1)} from ${path.basename(s.checkpoint)} (epoch ${s.epoch}) to ${file}${replaced ? ` (replaced ${plural(replaced, 'file')} of those names that ${replaced === 1 ? 'was' : 'were'} there)` : ''}`,
    );
  } else if (kind === 'idx') {
    if (s.channels !== 1 || s.size !== 28)
      throw new ConfigError(
        `${to}: IDX files hold MNIST's 28x28 gray images; this run makes ${s.size}x${s.size} ${s.channels === 3 ? 'rgb' : 'gray'} ones`,
        'Write a .png grid, or PNG files with --out DIR/, instead',
      );
    writeFileAtomic(file, encodeIdx3(s.pixels, s.n, s.size, s.size));
    log(`wrote ${plural(s.n, 'sample')}${what} (${s.size}x${s.size}, IDX3) ${from}`);
  } else {
    // Every digit drawn: one row per digit (the labels come in equal, ordered shares).
    writeFileAtomic(file, gridPng(s.pixels, s.n, s.size, s.size, { cols: opts.nrow ?? s.cols, channels: s.channels }));
    log(`wrote a grid of ${plural(s.n, 'sample')}${what}${s.cols && !opts.nrow ? `, one row per ${noun},` : ''} ${from}`);
  }
}

/**
 * Refusals that the run's newest checkpoint settles, before the backend loads: a class the run
 * does not have, an IDX file from a run that makes no 28x28 gray images. (sampleRun checks the
 * same when it loads the weights.)
 */
function checkAgainstRun(runDir: string, opts: SampleCommandOptions, kind: OutputKind, file: string): void {
  const state = newestVerifiedCheckpoint(runDir)?.state;
  if (!state) return; // sampleRun names what is wrong with the run
  const { config } = state;
  if (opts.className !== undefined && config.conditional) classIndex(opts.className, runClassNames(config, state.data), runDir);
  if (kind === 'idx' && (config.color === 'rgb' || config.imageSize !== 28))
    throw new ConfigError(
      `${file}: IDX files hold MNIST's 28x28 gray images; this run makes ${config.imageSize}x${config.imageSize} ${config.color ?? 'gray'} ones`,
      'Write a .png grid, or PNG files with --out DIR/, instead',
    );
}

/** The name of sample i in a folder of samples: sample-0000.png, ... */
export function sampleFileName(i: number): string {
  return `sample-${String(i).padStart(4, '0')}.png`;
}

/**
 * One PNG per sample (gray or rgb, as the run), each written atomically; other files in the
 * folder are left alone, files of the same names replaced (and counted).
 */
function writeSampleFiles(dir: string, s: Samples): { replaced: number } {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', dir);
  }
  const per = s.size * s.size * s.channels;
  let replaced = 0;
  for (let i = 0; i < s.n; i++) {
    const file = path.join(dir, sampleFileName(i));
    if (fs.existsSync(file)) replaced++;
    const px = s.pixels.subarray(i * per, (i + 1) * per);
    writeFileAtomic(file, s.channels === 3 ? encodeRgbPng(px, s.size, s.size) : encodeGrayPng(px, s.size, s.size));
  }
  return { replaced };
}

/** Says so when a conditional run drew more than asked, to give every class an equal share. */
function rounded(asked: number | undefined, drawn: number, classes = 10, noun = 'digit'): string {
  return asked !== undefined && asked !== drawn
    ? ` (--n ${asked} rounded up to ${drawn} for equal shares of the ${classes === 10 ? 'ten' : classes} ${noun === 'class' ? 'classes' : 'digits'})`
    : '';
}
