/** `gan sample`: a PNG grid, or an IDX3 file of samples for other tools, from a run's generator. */
import * as path from 'node:path';
import { loadBackend, type BackendChoice } from '../backends';
import { encodeIdx3 } from '../data/idx';
import { ConfigError } from '../util/errors';
import { writeFileAtomic } from '../util/fs';
import { gridPng } from '../core/image/grid';
import { grayGif } from '../core/image/gif';
import { newestRun } from '../run/run-dir';
import { sampleRun, sampleWalk } from '../run/sample';

/** Latent walks: frames per leg between two points, and how long each frame shows. */
export const WALK_FRAMES_PER_SEGMENT = 12;
export const WALK_FRAME_MS = 80;
/** Walks side by side in a walk GIF when --n is not given (4 x 4). */
export const WALK_DEFAULT_N = 16;
import { printLine } from './output';

export interface SampleCommandOptions {
  /** Samples (with interpolate: walks side by side); default 64 (16 for a walk). */
  n?: number;
  /** A latent walk through this many random points, written as a GIF. */
  interpolate?: number;
  /** Frames per leg of the walk. */
  frames?: number;
  out: string;
  run?: string;
  seed: number;
  nrow?: number;
  /** Conditional runs: only this digit. */
  digit?: number;
  /** Sample the trained generator even when the run kept an EMA generator. */
  raw?: boolean;
  backend: BackendChoice;
  /** Threads of the wasm backend (default: all CPUs). */
  threads?: number;
  log?: (line: string) => void;
}

/** `.idx` or MNIST's own `-idx3-ubyte` suffix selects the IDX3 format; `.png` a grid. */
export function outputKind(out: string): 'png' | 'idx' | 'gif' {
  if (out.endsWith('.idx') || out.endsWith('-idx3-ubyte')) return 'idx';
  if (out.toLowerCase().endsWith('.png')) return 'png';
  if (out.toLowerCase().endsWith('.gif')) return 'gif';
  throw new ConfigError(
    `--out ${out}: unknown file type`,
    'End it in .png for a grid, .idx / -idx3-ubyte for an MNIST-format sample file, or .gif with --interpolate K',
  );
}

export async function sampleCommand(opts: SampleCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  const kind = outputKind(opts.out);
  if ((kind === 'gif') !== (opts.interpolate !== undefined)) {
    throw new ConfigError(
      opts.interpolate !== undefined ? `--interpolate writes a GIF, not ${opts.out}` : `--out ${opts.out}: a GIF is a latent walk`,
      opts.interpolate !== undefined
        ? 'End --out in .gif, e.g. --out walk.gif'
        : 'Add --interpolate K (K random points to walk through), or end --out in .png',
    );
  }
  if (opts.frames !== undefined && opts.interpolate === undefined)
    throw new ConfigError('--frames needs --interpolate K', 'Add --interpolate K, or drop --frames');
  const runDir = opts.run ?? newestRun(undefined, { withCheckpoint: true });
  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);
  if (opts.interpolate !== undefined) {
    const framesPerSegment = opts.frames ?? WALK_FRAMES_PER_SEGMENT;
    const walk = sampleWalk(backend.tf, runDir, {
      walks: opts.n ?? WALK_DEFAULT_N,
      points: opts.interpolate,
      framesPerSegment,
      seed: opts.seed,
    });
    for (const why of walk.skipped) log(`skipped a damaged checkpoint: ${why}`);
    writeFileAtomic(opts.out, grayGif(walk.frames, walk.width, walk.height, { delayMs: WALK_FRAME_MS }));
    log(
      `wrote a latent walk through ${opts.interpolate} points (${walk.frames.length} frames, ${opts.n ?? WALK_DEFAULT_N} walks side by side${walk.morphs ? ', each digit morphing into the next on every leg' : ''}) from ${path.basename(walk.checkpoint)} (epoch ${walk.epoch}) to ${opts.out}`,
    );
    return;
  }
  const s = sampleRun(backend.tf, runDir, { n: opts.n ?? 64, seed: opts.seed, digit: opts.digit, raw: opts.raw });
  const what =
    (s.labels ? (opts.digit !== undefined ? ` of digit ${opts.digit}` : ' of every digit in equal shares') : '') +
    (s.generator === 'ema' ? ' (EMA generator)' : '');
  for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
  if (kind === 'idx') {
    writeFileAtomic(opts.out, encodeIdx3(s.pixels, s.n, s.size, s.size));
    log(`wrote ${s.n} samples${what} (${s.size}x${s.size}, IDX3) from ${path.basename(s.checkpoint)} (epoch ${s.epoch}) to ${opts.out}`);
  } else {
    // A conditional run's grid holds one digit per row (the labels come in equal, ordered shares).
    const cols = opts.nrow ?? (s.labels && opts.digit === undefined ? Math.ceil(s.n / 10) : undefined);
    writeFileAtomic(opts.out, gridPng(s.pixels, s.n, s.size, s.size, { cols }));
    log(`wrote a grid of ${s.n} samples${what} from ${path.basename(s.checkpoint)} (epoch ${s.epoch}) to ${opts.out}`);
  }
}
