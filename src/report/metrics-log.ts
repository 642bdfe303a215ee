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

/** Parses metrics.jsonl text; a line cut short by a kill, or not an epoch line, is skipped. */
export function parseMetricsLog(text: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const row = JSON.parse(line) as MetricsRow;
      if (row && typeof row.epoch === 'number' && Number.isFinite(row.epoch)) rows.push(row);
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
