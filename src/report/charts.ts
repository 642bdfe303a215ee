/**
 * What the report plots, as ECharts options built from metrics rows. Pure data in, plain JSON
 * out (no echarts import), so it is tested without rendering anything; render.ts draws them.
 */
import type { MetricsRow } from './metrics-log';

export interface ChartSpec {
  /** File stem under plots/ (losses.svg, losses.png). */
  name: string;
  title: string;
  /** A complete ECharts option object. */
  option: Record<string, unknown>;
}

interface SeriesSpec {
  key: string;
  label: string;
}

/** The charts, in the order the report shows them; a chart whose metric no row holds is left out. */
const CHARTS: Array<{ name: string; title: string; yName: string; series: SeriesSpec[]; yMin?: number; yMax?: number; note?: string }> = [
  {
    name: 'losses',
    title: 'Losses',
    yName: 'loss (epoch mean)',
    series: [
      { key: 'd_loss', label: 'D loss' },
      { key: 'g_loss', label: 'G loss' },
    ],
  },
  {
    name: 'discriminator',
    title: 'Discriminator outputs',
    yName: 'mean probability',
    yMin: 0,
    yMax: 1,
    series: [
      { key: 'd_real', label: 'D(x), real' },
      { key: 'd_fake', label: 'D(G(z)), generated' },
    ],
  },
  { name: 'speed', title: 'Training speed', yName: 'ms / iteration', yMin: 0, series: [{ key: 'ms_per_iter', label: 'ms / iteration' }] },
  { name: 'fid', title: 'FID (lower is better)', yName: 'FID', yMin: 0, series: [{ key: 'fid', label: 'FID' }] },
  {
    name: 'inception-score',
    title: 'Inception Score (higher is better, 10 at most)',
    yName: 'IS',
    yMin: 0,
    series: [{ key: 'inception_score', label: 'Inception Score' }],
  },
  {
    name: 'coverage',
    title: 'Mode coverage',
    yName: 'classes with >= 5% of samples',
    yMin: 0,
    yMax: 10,
    series: [{ key: 'classes_covered', label: 'classes covered' }],
  },
];

/** [epoch, value] pairs of the rows that hold a finite `key`. */
export function seriesData(rows: MetricsRow[], key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of rows) {
    const v = r[key];
    if (typeof v === 'number' && Number.isFinite(v)) out.push([r.epoch, v]);
  }
  return out;
}

export function chartSpecs(rows: MetricsRow[]): ChartSpec[] {
  const specs: ChartSpec[] = [];
  const lastEpoch = rows.length ? rows[rows.length - 1].epoch : 1;
  for (const c of CHARTS) {
    const series = c.series.map((s) => ({ ...s, data: seriesData(rows, s.key) })).filter((s) => s.data.length > 0);
    if (series.length === 0) continue;
    specs.push({
      name: c.name,
      title: c.title,
      option: {
        animation: false,
        backgroundColor: '#ffffff',
        textStyle: { fontFamily: 'sans-serif' },
        title: { text: c.title, left: 'center', top: 8, textStyle: { fontSize: 16 } },
        legend: { bottom: 4, data: series.map((s) => s.label) },
        grid: { left: 64, right: 32, top: 48, bottom: 76 },
        xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 26, min: 1, max: Math.max(2, lastEpoch), minInterval: 1 },
        yAxis: { type: 'value', name: c.yName, nameLocation: 'middle', nameGap: 44, min: c.yMin, max: c.yMax, scale: c.yMin === undefined },
        series: series.map((s) => ({
          type: 'line',
          name: s.label,
          data: s.data,
          // Dots only while they can be told apart; a 50-epoch line reads better without them.
          showSymbol: s.data.length <= 30,
          symbolSize: 5,
        })),
      },
    });
  }
  return specs;
}
