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
  /**
   * Whose features FID was measured in: 'mnist' (the MNIST classifier, against MNIST's test
   * images; absent in older records), or 'data:KEY' (a classifier trained on the run's own data,
   * KEY the start of its cache key). FIDs of different feature spaces are never compared.
   */
  feature_space?: string;
  /** Classes the classifier tells apart (coverage counts among them); absent: 10. */
  classes?: number;
}

/** A record's feature space ('mnist' for records from before there were others). */
export function featureSpace(e: Pick<EvalRecord, 'feature_space'>): string {
  return e.feature_space ?? 'mnist';
}

/** Words for a feature space, for the report and the command's lines. */
export function featureSpaceLabel(space: string): string {
  return space === 'mnist' ? 'MNIST classifier' : `classifier of the run's data (${space.slice('data:'.length)})`;
}

/** The records measured in the same feature space as the newest one: the only ones whose FIDs compare. */
export function newestSpace(evals: EvalRecord[]): EvalRecord[] {
  if (evals.length === 0) return evals;
  const space = featureSpace(evals[evals.length - 1]);
  return evals.filter((e) => featureSpace(e) === space);
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

/** The evaluation with the lowest FID, if any, among those in the newest one's feature space. */
export function bestEval(evals: EvalRecord[]): EvalRecord | undefined {
  return newestSpace(evals).reduce<EvalRecord | undefined>((best, e) => (best === undefined || e.fid < best.fid ? e : best), undefined);
}
