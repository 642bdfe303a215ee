/**
 * Drawing chart options: ECharts' server-side SVG renderer (no DOM, no canvas), then resvg for a
 * PNG. resvg gets its font from the dejavu-fonts-ttf package and never looks at system fonts,
 * so the PNGs come out the same on every machine, with or without fonts installed.
 */
import type * as Echarts from 'echarts';
import type * as ResvgJs from '@resvg/resvg-js';

// Loaded on first use: importing the library (src/index.ts) stays cheap.
const echarts = () => require('echarts') as typeof Echarts;
const resvg = () => require('@resvg/resvg-js') as typeof ResvgJs;

export const CHART_WIDTH = 720;
export const CHART_HEIGHT = 360;

const FONT_FILE = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');

export function renderChartSvg(option: Record<string, unknown>, width = CHART_WIDTH, height = CHART_HEIGHT): string {
  const chart = echarts().init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

export function svgToPng(svg: string): Buffer {
  const renderer = new (resvg().Resvg)(svg, {
    background: '#ffffff',
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return renderer.render().asPng();
}
