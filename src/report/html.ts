/**
 * The report page as one string: inline CSS, charts as inline SVG, images as data: URLs, no
 * script, nothing fetched. Pure: the caller reads the files and writes the result.
 */
import * as path from 'node:path';
import type { RunInfo } from '../run/run-dir';
import { bestEval, featureSpace, featureSpaceLabel, newestSpace, type EvalRecord } from './evals-log';
import type { MetricsRow } from './metrics-log';
import type { Timeline } from './timeline';
import { plural } from '../util/text';
import { configRows } from './config-rows';

export interface ReportData {
  runDir: string;
  info?: RunInfo;
  rows: MetricsRow[];
  charts: Array<{ name: string; title: string; svg: string }>;
  /** steps.jsonl's points, and the steps each one covers. */
  steps: { points: number; every?: number };
  /** gan eval's measurements, oldest first. */
  evals: EvalRecord[];
  timeline: Timeline;
  checkpoints: {
    latest?: string;
    best?: { dir: string; epoch?: number; fid?: number };
    /** gan eval's lowest FID, and whether the run still holds that checkpoint. */
    bestEval?: EvalRecord & { kept: boolean };
  };
  warnings: Array<{ epoch: number; message: string }>;
  generatedAt: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function dataUrl(mime: string, bytes: Uint8Array): string {
  return `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

const num = (v: unknown, digits: number) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px 24px 48px; color: #1d2433; background: #fafbfc; }
h1 { font-size: 1.6em; margin: 8px 0 4px; } h2 { font-size: 1.2em; margin: 28px 0 10px; border-bottom: 1px solid #dde1e7; padding-bottom: 4px; }
.sub { color: #5b6475; margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 1.25em; } .card span { color: #5b6475; font-size: 0.85em; }
.samples { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
figure { margin: 0; } .samples figure { max-width: 486px; } figcaption { color: #5b6475; font-size: 0.9em; margin-top: 4px; }
img.pixels { image-rendering: pixelated; width: 484px; max-width: 100%; background: #808080; border: 1px solid #dde1e7; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 16px; }
.plots figure { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 4px; }
.plots svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; background: #fff; font-size: 0.9em; } td, th { border: 1px solid #dde1e7; padding: 3px 8px; text-align: right; } th { background: #f0f2f5; }
table.config td { text-align: left; font-family: ui-monospace, monospace; }
.warn { background: #fff4e5; border-left: 4px solid #e8a33d; padding: 6px 10px; margin: 4px 0; }
.ok { color: #2f7d4f; } code { font-family: ui-monospace, monospace; font-size: 0.95em; }
`;

const METRIC_COLUMNS: Array<[string, string, number]> = [
  ['epoch', 'epoch', 0],
  ['step', 'step', 0],
  ['d_loss', 'D loss', 4],
  ['g_loss', 'G loss', 4],
  ['d_real', 'D(x)', 3],
  ['d_fake', 'D(G(z))', 3],
  ['ms_per_iter', 'ms/it', 1],
  ['seconds', 's', 1],
  ['fid', 'FID', 2],
  ['inception_score', 'IS', 2],
  ['classes_covered', 'classes', 0],
];

/** The figures at the top of the page: the last epoch's means and the run's totals. */
function summaryCards(d: ReportData, totalEpochs: number | undefined, bestFid: number | undefined): string {
  const last = d.rows[d.rows.length - 1];
  const trainSeconds = d.rows.reduce((s, r) => s + (typeof r.seconds === 'number' ? r.seconds : 0), 0);
  const cards: Array<[string, string]> = [
    [`${last.epoch}${totalEpochs ? ` / ${totalEpochs}` : ''}`, 'epochs done'],
    [num(last.d_loss, 3), 'D loss'],
    [num(last.g_loss, 3), 'G loss'],
    [num(last.d_real, 3), 'D(x)'],
    [num(last.d_fake, 3), 'D(G(z))'],
    [num(last.ms_per_iter, 1), 'ms / iteration'],
    [formatDuration(trainSeconds), 'training time'],
  ];
  const space = d.evals.length ? featureSpace(d.evals[d.evals.length - 1]) : 'mnist';
  if (bestFid !== undefined) cards.push([bestFid.toFixed(2), space === 'mnist' ? 'best FID' : "best FID (the data's own classifier)"]);
  return cards.map(([v, l]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${l}</span></div>`).join('');
}

/** One row per epoch, with the columns some epoch has. */
function metricsTable(d: ReportData): string {
  const columns = METRIC_COLUMNS.filter(([key]) => d.rows.some((r) => r[key] !== undefined));
  return `<table><tr>${columns.map(([, h]) => `<th>${h}</th>`).join('')}</tr>${d.rows
    .map(
      (r) =>
        `<tr>${columns.map(([key, , digits]) => `<td>${num(r[key], digits)}${key === 'fid' && r.best ? ' *' : ''}</td>`).join('')}</tr>`,
    )
    .join('')}</table>`;
}

function checkpointList(d: ReportData): string {
  const { best, bestEval: e } = d.checkpoints;
  const evalLine = e
    ? `<li>best by FID in <code>gan eval</code>: <code>${escapeHtml(e.checkpoint)}</code> (epoch ${e.epoch}, step ${e.step}, FID ${e.fid.toFixed(2)})${e.kept ? '' : ', since replaced by newer checkpoints'}</li>`
    : '';
  const none = e
    ? 'none kept in <code>best/</code> (train with <code>--eval-every K</code> to keep the best)'
    : 'none measured (train with <code>--eval-every K</code> to measure FID and keep the best, or run <code>gan eval</code>)';
  return `<ul>
<li>newest: ${d.checkpoints.latest ? `<code>${escapeHtml(d.checkpoints.latest)}</code>` : 'none'}</li>
<li>best by FID during training: ${best ? `<code>${escapeHtml(best.dir)}</code>${best.epoch !== undefined ? ` (epoch ${best.epoch}${best.fid !== undefined ? `, FID ${best.fid.toFixed(2)}` : ''})` : ''}` : none}</li>
${evalLine}</ul>`;
}

/** gan eval's measurements (evals.jsonl), one row each. */
function evalsSection(d: ReportData): string {
  if (d.evals.length === 0) return '<p class="sub">None yet: <code>gan eval</code> adds its results here (evals.jsonl).</p>';
  const best = bestEval(d.evals);
  // FIDs of different feature spaces measure different things: each row says whose it is.
  const spaces = d.evals.some((e) => featureSpace(e) !== 'mnist');
  const rows = d.evals.map(
    (e) =>
      `<tr><td>${escapeHtml(e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</td><td>${e.epoch}</td><td>${e.step}</td><td>${escapeHtml(e.generator)}</td><td>${e.n}</td>${spaces ? `<td>${escapeHtml(featureSpaceLabel(featureSpace(e)))}</td>` : ''}<td>${num(e.fid, 2)}${e === best ? ' *' : ''}</td><td>${num(e.inception_score, 2)}</td><td>${num(e.classes_covered, 0)}${e.classes !== undefined ? ` of ${e.classes}` : ''}</td><td>${num(e.mean_confidence, 3)}</td></tr>`,
  );
  return `<table><tr><th>measured</th><th>epoch</th><th>step</th><th>generator</th><th>samples</th>${spaces ? '<th>feature space</th>' : ''}<th>FID</th><th>IS</th><th>classes</th><th>confidence</th></tr>${rows.join('')}</table>
<p class="sub">From <code>evals.jsonl</code>; * lowest FID${spaces ? " among the rows in the newest row's feature space (FIDs of different feature spaces are not compared)" : ''}.</p>`;
}

/** What the curves average, said above them. */
function curvesNote(d: ReportData): string {
  const every = d.steps.every ?? 1;
  return d.steps.points > 0
    ? `Losses, D outputs and speed: means over every ${every} step${every === 1 ? '' : 's'} (${d.steps.points} points in <code>steps.jsonl</code>), epochs marked on the top axis; evaluations: one point each.`
    : 'Means over each epoch (this run has no <code>steps.jsonl</code>).';
}

export function reportHtml(d: ReportData): string {
  const last = d.rows[d.rows.length - 1];
  const config = d.info?.config as unknown as Record<string, unknown> | undefined;
  const totalEpochs = typeof config?.epochs === 'number' ? config.epochs : undefined;
  const fids = d.rows.filter((r) => typeof r.fid === 'number');
  // Only FIDs of one feature space compare: the newest evaluation's (--eval-every's are MNIST's).
  const space = d.evals.length ? featureSpace(d.evals[d.evals.length - 1]) : 'mnist';
  const allFids = [...(space === 'mnist' ? fids.map((r) => r.fid!) : []), ...newestSpace(d.evals).map((e) => e.fid)];
  const bestFid = allFids.length ? Math.min(...allFids) : undefined;
  const name = path.basename(path.resolve(d.runDir));
  const warnings = d.warnings.length
    ? d.warnings.map((w) => `<div class="warn">epoch ${w.epoch}: ${escapeHtml(w.message)}</div>`).join('')
    : '<p class="ok">No diagnosis warnings recorded in metrics.jsonl.</p>';
  const skipped = d.timeline.skipped.length ? `<p>Left out of the timeline: ${d.timeline.skipped.map(escapeHtml).join('; ')}</p>` : '';
  const configTable = config
    ? configRows(config)
        .map(([flag, v]) => `<tr><td>${escapeHtml(flag)}</td><td>${escapeHtml(v)}</td></tr>`)
        .join('')
    : '<tr><td colspan="2">run.json is missing or unreadable</td></tr>';

  const t = d.timeline;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gan report: ${escapeHtml(name)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>gan report: ${escapeHtml(name)}</h1>
<p class="sub">${escapeHtml(path.resolve(d.runDir))} · backend ${escapeHtml(String(last.backend ?? '?'))} · step ${escapeHtml(String(last.step ?? '?'))}${d.info?.createdAt ? ` · started ${escapeHtml(d.info.createdAt)}` : ''} · report written ${escapeHtml(d.generatedAt)}</p>
<div class="cards">${summaryCards(d, totalEpochs, bestFid)}</div>

<h2>Diagnosis</h2>
${warnings}

<h2>Samples</h2>
<div class="samples">
<figure><img class="pixels" alt="samples after epoch ${t.latest.epoch}" src="${dataUrl('image/png', t.latest.png)}"><figcaption>After epoch ${t.latest.epoch}: the run's fixed noise (the same ${'z'} in every epoch's grid).</figcaption></figure>
<figure><img class="pixels" alt="timeline of ${plural(t.epochs.length, 'epoch')}" src="${dataUrl('image/gif', t.gif)}"><figcaption>Timeline: epochs ${t.epochs[0]}–${t.epochs[t.epochs.length - 1]} (${plural(t.epochs.length, 'frame')}; the bar below shows how far training was). Also <code>timeline.gif</code>.</figcaption></figure>
</div>
${skipped}

<h2>Training curves</h2>
<p class="sub">${curvesNote(d)} Files in <code>plots/</code> (SVG and PNG); the same curves and every epoch's grid are in this run's TensorBoard event files (<code>tensorboard --logdir ${escapeHtml(path.dirname(path.resolve(d.runDir)))}</code>).</p>
<div class="plots">
${d.charts.map((c) => `<figure id="plot-${c.name}">${c.svg}</figure>`).join('\n')}
</div>

<h2>Evaluations</h2>
${evalsSection(d)}

<h2>Checkpoints</h2>
${checkpointList(d)}

<h2>Configuration</h2>
<table class="config">${configTable}</table>

<h2>Metrics per epoch</h2>
<details${d.rows.length <= 20 ? ' open' : ''}><summary>${plural(d.rows.length, 'epoch')}${fids.length ? ' (* best FID)' : ''}</summary>
${metricsTable(d)}
</details>
</body>
</html>
`;
}
