/**
 * What the report plots, as ECharts options built from a run's logs. Pure data in, plain JSON
 * out (no echarts import), so it is tested without rendering anything; render.ts draws them.
 *
 * Losses, D outputs and speed are drawn per step from steps.jsonl (every --metrics-every steps),
 * with the epochs as a second axis on top; runs from before steps.jsonl get epoch means from
 * metrics.jsonl. FID, IS and coverage are per evaluation: --eval-every's (metrics.jsonl) and
 * gan eval's (evals.jsonl).
 */
import type { EvalRecord } from './evals-log';
import type { MetricsRow } from './metrics-log';
import type { StepPoint } from './steps-log';

export interface ChartSpec {
  /** File stem under plots/ (losses.svg, losses.png). */
  name: string;
  title: string;
  /** A complete ECharts option object. */
  option: Record<string, unknown>;
}

/** The logs the charts are drawn from. */
export interface ChartLogs {
  steps?: StepPoint[];
  evals?: EvalRecord[];
}

/**
 * The Okabe-Ito palette (Okabe & Ito, "Color Universal Design"), in the order that keeps the first
 * two, the pair most charts have, apart for every kind of colour blindness and dark enough on white.
 */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

/** Most points a line is drawn with: a 50-epoch run's ~9,000 are averaged down to about the chart's width. */
export const MAX_POINTS = 600;

interface SeriesSpec {
  key: string;
  label: string;
  /** Where the values come from: metrics.jsonl's epochs (default), steps.jsonl's points, or gan eval's lines. */
  from?: 'steps' | 'evals';
}

/** The charts, in the order the report shows them; a series no log holds is left out, and a chart with none. */
const CHARTS: Array<{ name: string; title: string; yName: string; series: SeriesSpec[]; yMin?: number; yMax?: number }> = [
  { name: 'losses', title: 'Losses', yName: 'loss', series: stepSeries(['d_loss', 'D loss'], ['g_loss', 'G loss']) },
  {
    name: 'discriminator',
    title: 'Discriminator outputs',
    yName: 'mean probability',
    yMin: 0,
    yMax: 1,
    series: stepSeries(['d_real', 'D(x), real'], ['d_fake', 'D(G(z)), generated']),
  },
  { name: 'speed', title: 'Training speed', yName: 'ms / iteration', yMin: 0, series: stepSeries(['ms_per_iter', 'ms / iteration']) },
  { name: 'fid', title: 'FID (lower is better)', yName: 'FID', yMin: 0, series: evalSeries('fid', 'FID') },
  {
    name: 'inception-score',
    title: 'Inception Score (higher is better, 10 at most)',
    yName: 'IS',
    yMin: 0,
    series: evalSeries('inception_score', 'Inception Score'),
  },
  {
    name: 'coverage',
    title: 'Mode coverage',
    yName: 'classes with >= 5% of samples',
    yMin: 0,
    yMax: 10,
    series: evalSeries('classes_covered', 'classes covered'),
  },
];

/** Per-step series where steps.jsonl has them; chartSpecs falls back to the epoch means. */
function stepSeries(...pairs: Array<[string, string]>): SeriesSpec[] {
  return pairs.map(([key, label]) => ({ key, label, from: 'steps' }));
}

function evalSeries(key: string, label: string): SeriesSpec[] {
  return [
    { key, label: `${label}, during training` },
    { key, label: `${label}, gan eval`, from: 'evals' },
  ];
}

/** [epoch, value] pairs of the rows that hold a finite `key`. */
export function seriesData(rows: MetricsRow[], key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of rows) {
    const v = r[key];
    if (typeof v === 'number' && Number.isFinite(v)) out.push([r.epoch, v]);
  }
  return out;
}

/** [step, value] pairs of the step points that hold a finite `key`. */
function stepData(points: StepPoint[], key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of points) {
    const v = (p as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number' && Number.isFinite(v)) out.push([p.step, v]);
  }
  return out;
}

/** At most `max` points: consecutive points averaged in equal groups (x and y alike). */
export function downsample(data: Array<[number, number]>, max = MAX_POINTS): Array<[number, number]> {
  if (data.length <= max) return data;
  const group = Math.ceil(data.length / max);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < data.length; i += group) {
    const part = data.slice(i, i + group);
    out.push([part.reduce((s, p) => s + p[0], 0) / part.length, part.reduce((s, p) => s + p[1], 0) / part.length]);
  }
  return out;
}

/** Steps per epoch, from an epoch line (every epoch has as many). */
function stepsPerEpoch(rows: MetricsRow[]): number | undefined {
  const r = rows.find((x) => x.epoch > 0 && x.step > 0);
  return r && r.step / r.epoch;
}

export function chartSpecs(rows: MetricsRow[], logs: ChartLogs = {}): ChartSpec[] {
  const steps = logs.steps ?? [];
  const spe = stepsPerEpoch(rows);
  const lastEpoch = rows.length ? rows[rows.length - 1].epoch : 1;
  const specs: ChartSpec[] = [];
  for (const c of CHARTS) {
    const perStep = c.series.some((s) => s.from === 'steps') && steps.length > 0 && spe !== undefined;
    const series = c.series
      .map((s) => ({ ...s, data: dataOf(s, rows, perStep ? steps : undefined, logs.evals ?? [], spe) }))
      .filter((s) => s.data.length > 0);
    if (series.length === 0) continue;
    const lastStep = Math.max(rows.at(-1)?.step ?? 0, steps.at(-1)?.step ?? 0);
    const xAxis = perStep ? stepAxes(lastStep, spe!) : epochAxis(lastEpoch, series);
    specs.push({ name: c.name, title: c.title, option: chartOption(c, xAxis, series) });
  }
  return specs;
}

function dataOf(s: SeriesSpec, rows: MetricsRow[], steps: StepPoint[] | undefined, evals: EvalRecord[], spe: number | undefined) {
  if (s.from === 'evals') {
    // An evaluated checkpoint may sit inside an epoch: placed at its fraction of the epochs.
    const at = (e: EvalRecord) => (spe ? +(e.step / spe).toFixed(3) : e.epoch);
    return evals.map((e): [number, number] => [at(e), e[s.key as keyof EvalRecord] as number]).filter(([, v]) => Number.isFinite(v));
  }
  return steps ? downsample(stepData(steps, s.key)) : seriesData(rows, s.key);
}

/** Steps below, epochs on top: the epoch axis spans the same range, so its ticks mark the epoch ends. */
function stepAxes(lastStep: number, spe: number): unknown[] {
  const epochs = lastStep / spe;
  return [
    { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 26, min: 0, max: Math.max(1, lastStep), minInterval: 1 },
    {
      type: 'value',
      name: 'epoch',
      nameLocation: 'middle',
      nameGap: 24,
      position: 'top',
      min: 0,
      max: epochs,
      minInterval: 1,
      // One line per epoch end (more than 20 would crowd the chart: then echarts' nicer interval).
      interval: epochs <= 20 ? 1 : undefined,
      axisLabel: { showMaxLabel: Number.isInteger(epochs) },
      splitLine: { show: true, lineStyle: { type: 'dashed', color: '#9aa3b0' } },
    },
  ];
}

function epochAxis(lastEpoch: number, series: Array<{ data: Array<[number, number]> }>): unknown {
  const lastX = Math.max(lastEpoch, ...series.flatMap((s) => s.data.map((p) => p[0])));
  return { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 26, min: 0, max: Math.max(1, Math.ceil(lastX)), minInterval: 1 };
}

function chartOption(
  c: (typeof CHARTS)[number],
  xAxis: unknown,
  series: Array<SeriesSpec & { data: Array<[number, number]> }>,
): Record<string, unknown> {
  const twoAxes = Array.isArray(xAxis);
  return {
    animation: false,
    backgroundColor: '#ffffff',
    color: PALETTE,
    textStyle: { fontFamily: 'sans-serif' },
    title: { text: c.title, left: 'center', top: 6, textStyle: { fontSize: 16 } },
    legend: { bottom: 4, data: series.map((s) => s.label) },
    grid: { left: 64, right: 32, top: twoAxes ? 72 : 48, bottom: 76 },
    xAxis,
    yAxis: { type: 'value', name: c.yName, nameLocation: 'middle', nameGap: 44, min: c.yMin, max: c.yMax, scale: c.yMin === undefined },
    series: series.map((s, i) => ({
      type: 'line',
      name: s.label,
      data: s.data,
      // Dots only while they can be told apart; shapes as well as colours tell the lines apart.
      showSymbol: s.data.length <= 30,
      symbol: ['circle', 'triangle', 'rect', 'diamond'][i % 4],
      symbolSize: 6,
      lineStyle: { width: 2 },
    })),
  };
}
