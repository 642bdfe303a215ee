/** Reading a run's metrics.jsonl for the report: one object per epoch, in order. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EpochMetrics } from '../train/types';
import { METRICS_FILE } from '../run/run-dir';

/**
 * A metrics line as the report reads it: today's fields, and whatever later versions add
 * (diagnosis warnings, for one) without this reader having to know them.
 */
export type MetricsRow = EpochMetrics & Record<string, unknown>;

/** The fields that are numbers when gan writes them; another value there was not written by gan. */
const NUMBER_FIELDS = [
  'step',
  'd_loss',
  'g_loss',
  'd_real',
  'd_fake',
  'd_loss_std',
  'g_loss_std',
  'iterations',
  'seconds',
  'ms_per_iter',
  'batch_size',
  'fid',
  'inception_score',
  'classes_covered',
  'kl_to_uniform',
  'mean_confidence',
  'eval_seconds',
];

/**
 * A parsed line as the readers may trust it, or undefined when it is no epoch line: the epoch a
 * whole number from 1, each known number field a finite number, `backend` a string, `best` a
 * boolean, a diagnosis {mode, message} of strings; a field that is none of these is dropped
 * (the file is the user's to edit, and a report or a resume must not trip over it).
 */
function trustedRow(raw: unknown): MetricsRow | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const row = { ...(raw as Record<string, unknown>) };
  if (!Number.isSafeInteger(row.epoch) || (row.epoch as number) < 1) return undefined;
  for (const key of NUMBER_FIELDS) if (key in row && !(typeof row[key] === 'number' && Number.isFinite(row[key]))) delete row[key];
  if ('backend' in row && typeof row.backend !== 'string') delete row.backend;
  if ('best' in row && typeof row.best !== 'boolean') delete row.best;
  const d = row.diagnosis as { mode?: unknown; message?: unknown } | undefined;
  if ('diagnosis' in row && !(typeof d?.mode === 'string' && typeof d.message === 'string')) delete row.diagnosis;
  return row as MetricsRow;
}

/** Parses metrics.jsonl text; a line cut short by a kill, or not an epoch line, is skipped. */
export function parseMetricsLog(text: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const row = trustedRow(JSON.parse(line));
      if (row) rows.push(row);
    } catch {
      // a partial last line: the epoch it belonged to is redone on resume
    }
  }
  // On resume, metrics of redone epochs were dropped; keep the last line of each epoch anyway.
  const byEpoch = new Map<number, MetricsRow>();
  for (const r of rows) byEpoch.set(r.epoch, r);
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

export function readMetricsLog(runDir: string): MetricsRow[] {
  const file = path.join(runDir, METRICS_FILE);
  if (!fs.existsSync(file)) return [];
  return parseMetricsLog(fs.readFileSync(file, 'utf8'));
}

/**
 * Diagnosis warnings recorded in a metrics line (issue 10's trainer writes them). Accepts a
 * string or a list of strings (or of objects with a `message`) under `warnings` or `diagnosis`.
 */
export function rowWarnings(row: MetricsRow): string[] {
  const out: string[] = [];
  for (const key of ['warnings', 'diagnosis']) {
    const v = row[key];
    const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
    for (const item of list) {
      if (typeof item === 'string' && item.trim()) out.push(item);
      else if (item && typeof item === 'object' && typeof (item as { message?: unknown }).message === 'string')
        out.push((item as { message: string }).message);
    }
  }
  return out;
}
