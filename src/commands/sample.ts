/** `gan sample`: a PNG grid, or an IDX3 file of samples for other tools, from a run's generator. */
import * as path from 'node:path';
import { loadBackend, type BackendChoice } from '../backend';
import { encodeIdx3 } from '../data/idx';
import { ConfigError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { gridPng } from '../image/grid';
import { newestRun } from '../run-dir';
import { sampleRun } from '../sample';

export interface SampleCommandOptions {
  n: number;
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
export function outputKind(out: string): 'png' | 'idx' {
  if (out.endsWith('.idx') || out.endsWith('-idx3-ubyte')) return 'idx';
  if (out.toLowerCase().endsWith('.png')) return 'png';
  throw new ConfigError(`--out ${out}: unknown file type`, 'End it in .png for a grid, or .idx / -idx3-ubyte for an MNIST-format sample file');
}

export async function sampleCommand(opts: SampleCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const kind = outputKind(opts.out);
  const runDir = opts.run ?? newestRun();
  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);
  const s = sampleRun(backend.tf, runDir, { n: opts.n, seed: opts.seed, digit: opts.digit, raw: opts.raw });
  const what = (s.labels ? (opts.digit !== undefined ? ` of digit ${opts.digit}` : ' of every digit in equal shares') : '') + (s.generator === 'ema' ? ' (EMA generator)' : '');
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
