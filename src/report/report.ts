/**
 * `gan report`: what a run did, in one page that opens offline.
 *
 *   <run>/report.html      self-contained: charts inline as SVG, the grid and the timeline as
 *                          data: URLs; no script, no font or style from anywhere else
 *   <run>/plots/NAME.svg   each chart, and NAME.png rendered from it
 *   <run>/timeline.gif     the per-epoch grids in order
 *
 * It reads metrics.jsonl (a line per epoch), steps.jsonl (the curves between epoch ends) and
 * evals.jsonl (gan eval's measurements).
 *
 * Everything is built in memory first and each file is then replaced atomically, so a failure
 * (a run with nothing to show, a full disk) leaves the previous report whole or no report.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, GanError } from '../util/errors';
import { ioError, writeFileAtomic } from '../util/fs';
import { isRunDir, readRunInfo, METRICS_FILE, RUN_FILE, SAMPLES_DIR, type RunInfo } from '../run/run-dir';
import { BEST_DIR, listCheckpoints } from '../run/checkpoint';
import { chartSpecs } from './charts';
import { readMetricsLog, rowWarnings, type MetricsRow } from './metrics-log';
import { readStepsLog } from './steps-log';
import { bestEval, newestSpace, readEvalsLog, type EvalRecord } from './evals-log';
import { renderChartSvg, svgToPng } from './render';
import { listEpochGrids, timelineGif, type Timeline } from './timeline';
import { reportHtml, type ReportData } from './html';
import { ganCommand } from '../util/invocation';

export const REPORT_FILE = 'report.html';
export const PLOTS_DIR = 'plots';
export const TIMELINE_FILE = 'timeline.gif';

export interface ReportFiles {
  /** Paths relative to the run directory, and their bytes. */
  files: Array<[string, Uint8Array | string]>;
  epochs: number;
  frames: number;
  charts: string[];
}

export interface ReportResult {
  html: string;
  plots: string[];
  timeline: string;
  /** Epochs in the metrics, frames in the timeline. */
  epochs: number;
  frames: number;
  seconds: number;
}

/** The run's settings for the report; a damaged run.json is shown as such, not an error. */
function runInfoOrNothing(runDir: string): RunInfo | undefined {
  try {
    return readRunInfo(runDir);
  } catch {
    return undefined;
  }
}

/**
 * The newest checkpoint of the run, the best one by FID kept in best/ (with --eval-every), and
 * the best one gan eval measured (whether the run still has it: only the newest two are kept).
 */
function checkpointSummary(runDir: string, rows: MetricsRow[], evals: EvalRecord[]): ReportData['checkpoints'] {
  const latest = listCheckpoints(runDir)[0];
  const bestDir = listCheckpoints(runDir, BEST_DIR)[0];
  const bestRow = [...rows].reverse().find((r) => r.best === true);
  const e = bestEval(evals);
  return {
    latest: latest && path.relative(runDir, latest),
    best: bestDir ? { dir: path.relative(runDir, bestDir), epoch: bestRow?.epoch, fid: bestRow?.fid } : undefined,
    bestEval: e && { ...e, kept: fs.existsSync(path.join(runDir, e.checkpoint)) },
  };
}

/** Everything the report writes, built in memory; throws before anything is written. */
export function buildReport(runDir: string): ReportFiles {
  if (!isRunDir(runDir))
    throw new CheckpointError(`${runDir} is not a run directory (no ${RUN_FILE})`, 'Pass --run DIR of a run made by gan train');
  const rows = readMetricsLog(runDir);
  if (rows.length === 0) {
    throw new GanError(
      `${runDir} has no metrics yet (${METRICS_FILE} is missing or empty)`,
      `Train at least one epoch first: ${ganCommand('train', '--resume', '--out', runDir)}`,
    );
  }
  const grids = listEpochGrids(runDir);
  if (grids.length === 0) {
    throw new GanError(
      `${runDir} has no sample grids (${SAMPLES_DIR}/epoch-NNNN.png)`,
      `Train at least one epoch first: ${ganCommand('train', '--resume', '--out', runDir)}`,
    );
  }
  const info = runInfoOrNothing(runDir);
  const lastEpoch = rows[rows.length - 1].epoch;
  const timeline: Timeline = timelineGif(grids, Math.max(info?.config.epochs ?? 0, lastEpoch, grids[grids.length - 1].epoch));

  const steps = readStepsLog(runDir);
  const evals = readEvalsLog(runDir);
  // The FID chart draws one feature space's FIDs: the newest evaluation's.
  const charts = chartSpecs(rows, { steps, evals: newestSpace(evals) }).map((spec) => ({ spec, svg: renderChartSvg(spec.option) }));
  const files: Array<[string, Uint8Array | string]> = [];
  for (const c of charts) {
    files.push([path.join(PLOTS_DIR, `${c.spec.name}.svg`), c.svg]);
    files.push([path.join(PLOTS_DIR, `${c.spec.name}.png`), svgToPng(c.svg)]);
  }
  files.push([TIMELINE_FILE, timeline.gif]);
  const html = reportHtml({
    runDir,
    info,
    rows,
    charts: charts.map((c) => ({ name: c.spec.name, title: c.spec.title, svg: c.svg })),
    steps: { points: steps.length, every: info?.config.metricsEvery },
    evals,
    timeline,
    checkpoints: checkpointSummary(runDir, rows, evals),
    warnings: rows.flatMap((r) => rowWarnings(r).map((message) => ({ epoch: r.epoch, message }))),
    generatedAt: new Date().toISOString(),
  });
  // The page last: when it is there, what it links to is there.
  files.push([REPORT_FILE, html]);
  return { files, epochs: rows.length, frames: timeline.epochs.length, charts: charts.map((c) => c.spec.name) };
}

/** Builds the report and replaces its files in the run directory. */
export function writeReport(runDir: string): ReportResult {
  const t0 = performance.now();
  const built = buildReport(runDir);
  const plots = path.join(runDir, PLOTS_DIR);
  try {
    fs.mkdirSync(plots, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', plots);
  }
  for (const [rel, data] of built.files) writeFileAtomic(path.join(runDir, rel), data);
  return {
    html: path.join(runDir, REPORT_FILE),
    plots: built.charts.flatMap((c) => [path.join(plots, `${c}.png`), path.join(plots, `${c}.svg`)]),
    timeline: path.join(runDir, TIMELINE_FILE),
    epochs: built.epochs,
    frames: built.frames,
    seconds: (performance.now() - t0) / 1000,
  };
}
