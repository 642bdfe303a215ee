/**
 * evals.jsonl: what `gan eval` measured on a run's checkpoints, one line per evaluation, so that
 * the report shows it (the FIDs of --eval-every sit in metrics.jsonl instead).
 */
import * as path from 'node:path';
import { appendLineDurable } from '../util/fs';
import { parseJsonLines, readTextOrEmpty } from './jsonl';

export const EVALS_FILE = 'evals.jsonl';

export interface EvalRecord {
  /** When it was measured (ISO 8601). */
  time: string;
  /** The checkpoint evaluated, relative to the run folder, and where it stands in the run. */
  checkpoint: string;
  epoch: number;
  step: number;
  /** Which generator drew the samples: the EMA one (--ema runs) or the trained one. */
  generator: 'ema' | 'raw';
  /** Samples drawn, and the seed of their noise. */
  n: number;
  seed: number;
  fid: number;
  inception_score: number;
  classes_covered: number;
  kl_to_uniform: number;
  mean_confidence: number;
}

export function appendEval(runDir: string, record: EvalRecord): string {
  const file = path.join(runDir, EVALS_FILE);
  appendLineDurable(file, JSON.stringify(record));
  return file;
}

/** Parses evals.jsonl text, in the order the evaluations were made. */
export function parseEvalsLog(text: string): EvalRecord[] {
  return parseJsonLines<EvalRecord>(
    text,
    (v) => Number.isSafeInteger(v.step) && Number.isFinite(v.epoch) && typeof v.fid === 'number' && Number.isFinite(v.fid),
  );
}

export function readEvalsLog(runDir: string): EvalRecord[] {
  return parseEvalsLog(readTextOrEmpty(path.join(runDir, EVALS_FILE)));
}

/** The evaluation with the lowest FID, if any. */
export function bestEval(evals: EvalRecord[]): EvalRecord | undefined {
  return evals.reduce<EvalRecord | undefined>((best, e) => (best === undefined || e.fid < best.fid ? e : best), undefined);
}
