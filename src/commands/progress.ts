/**
 * What the commands show while they work: a bar redrawn in place on a terminal (cli-progress),
 * plain lines elsewhere (a file, a pipe, a CI log), where a bar would only add noise.
 *
 * A bar's line is cut to the terminal's width, never wrapped: cli-progress returns to the start
 * of the line to redraw and to clear it, so a wrapped line would leave its first half behind.
 * Each line is built from parts, and parts are dropped, least useful first, until it fits.
 */
import { SingleBar } from 'cli-progress';
import type { EpochMetrics, ProgressInfo } from '../train/types';

const fmt = (x: number, digits = 4) => x.toFixed(digits);

/** A duration as a clock reads it: 42s, 12m05s, 3h07m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** One part of a progress line: `drop` orders the optional parts (1 goes first); kept ones have none. */
export interface LinePart {
  text: string;
  drop?: number;
  /** A bar that may shrink to `min` cells before it is dropped: text is then ignored. */
  bar?: { progress: number; cells: number; min: number };
}

const barText = (progress: number, cells: number) => {
  const done = Math.round(Math.max(0, Math.min(1, progress)) * cells);
  return '\u2588'.repeat(done) + '\u2591'.repeat(cells - done);
};

/**
 * The parts joined by spaces, as wide as `width` allows: the bar shrinks first, then optional
 * parts go in their drop order, and what still does not fit is cut (never wrapped).
 */
export function fitLine(parts: LinePart[], width: number): string {
  const kept = parts.map((p) => ({ ...p, bar: p.bar && { ...p.bar } }));
  const render = () => kept.map((p) => (p.bar ? barText(p.bar.progress, p.bar.cells) : p.text)).join(' ');
  let line = render();
  const bar = kept.find((p) => p.bar)?.bar;
  if (bar && line.length > width) {
    bar.cells = Math.max(bar.min, bar.cells - (line.length - width));
    line = render();
  }
  const order = kept.filter((p) => p.drop !== undefined).sort((a, b) => a.drop! - b.drop!);
  for (const p of order) {
    if (line.length <= width) break;
    kept.splice(kept.indexOf(p), 1);
    line = render();
  }
  return line.length <= width ? line : line.slice(0, Math.max(0, width));
}

/** The usable width of a terminal stream: one column short, as a line that fills the last column wraps on some terminals. */
function lineWidth(stream: NodeJS.WriteStream): number {
  return Math.max(20, (stream.columns || 80) - 1);
}

/** A cli-progress bar whose whole line comes from `line(width)`; no SIGINT handler of its own (gan train has one). */
function lineBar(stream: NodeJS.WriteStream, line: (width: number) => string): SingleBar {
  return new SingleBar({
    format: () => line(lineWidth(stream)),
    stream,
    hideCursor: true,
    clearOnComplete: true,
    gracefulExit: false,
    fps: 5,
  });
}

/** The line printed at the end of every epoch: its losses and timing, the evaluation when there was one, and the time the run has left. */
export function epochLine(m: EpochMetrics, epochs: number): string {
  let line = `epoch ${m.epoch}/${epochs}  d_loss ${fmt(m.d_loss)}  g_loss ${fmt(m.g_loss)}  D(x) ${fmt(m.d_real, 3)}  D(G(z)) ${fmt(m.d_fake, 3)}  ${m.seconds.toFixed(1)} s  ${m.ms_per_iter.toFixed(1)} ms/it`;
  if (m.fid !== undefined)
    line += `  FID ${m.fid.toFixed(2)}  IS ${m.inception_score!.toFixed(2)}  classes ${m.classes_covered}${m.best ? ' (best)' : ''}`;
  if (m.epoch < epochs) line += `  run ETA ${formatDuration((epochs - m.epoch) * m.seconds)}`;
  return line;
}

/** Seconds the whole run has left at this step, at the epoch's pace so far. */
export function runEtaSeconds(p: ProgressInfo, epochs: number): number {
  const left = (epochs - p.epoch) * p.itersPerEpoch + (p.itersPerEpoch - p.iteration);
  return p.itPerSec > 0 ? left / p.itPerSec : NaN;
}

/** gan train's progress line, in parts: D(G(z)) goes first, then it/s, D(x) and the bar; the epoch, the ETA of the run and the losses stay. */
export function trainLineParts(p: ProgressInfo, epochs: number): LinePart[] {
  return [
    { text: `epoch ${p.epoch}/${epochs}` },
    { text: '', bar: { progress: p.iteration / p.itersPerEpoch, cells: 20, min: 8 }, drop: 4 },
    { text: `${p.iteration}/${p.itersPerEpoch}` },
    { text: `${p.itPerSec.toFixed(1)} it/s`, drop: 2 },
    { text: `ETA ${formatDuration(runEtaSeconds(p, epochs))}` },
    { text: `d_loss ${fmt(p.means.d_loss, 3)} g_loss ${fmt(p.means.g_loss, 3)}` },
    { text: `D(x) ${fmt(p.means.d_real, 3)}`, drop: 3 },
    { text: `D(G(z)) ${fmt(p.means.d_fake, 3)}`, drop: 1 },
  ];
}

/**
 * Progress within an epoch. On a terminal, a bar redrawn in place and cleared at the epoch's end,
 * where the epoch line takes its place. Elsewhere nothing, or with --log-every N a plain line
 * every N steps. After halt() (a stop was asked for) nothing is drawn again, so that the
 * messages that follow are not drawn over.
 */
export class ProgressDisplay {
  private readonly interactive = process.stdout.isTTY === true;
  private bar: SingleBar | undefined;
  private latest: ProgressInfo | undefined;
  private lastLoggedStep = 0;
  private halted = false;

  constructor(
    private readonly epochs: number,
    private readonly logEvery: number | undefined,
    private readonly log: (line: string) => void,
  ) {}

  update(p: ProgressInfo): void {
    if (this.halted) return;
    if (!this.interactive) {
      if (this.logEvery && p.step - this.lastLoggedStep >= this.logEvery) {
        this.lastLoggedStep = p.step;
        this.log(
          `epoch ${p.epoch}/${this.epochs}  step ${p.step}  ${p.iteration}/${p.itersPerEpoch}  ${p.itPerSec.toFixed(1)} it/s  ETA ${formatDuration(runEtaSeconds(p, this.epochs))}  d_loss ${fmt(p.means.d_loss, 3)}  g_loss ${fmt(p.means.g_loss, 3)}`,
        );
      }
      return;
    }
    this.latest = p;
    if (!this.bar) {
      this.bar = lineBar(process.stdout, (width) => fitLine(trainLineParts(this.latest!, this.epochs), width));
      this.bar.start(p.itersPerEpoch, p.iteration);
    } else {
      this.bar.update(p.iteration);
    }
  }

  /** Clears the bar, if one is shown, and gives the terminal its cursor back; the next update starts a new bar. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  /** Clears the bar for good: a stop was asked for, and the lines that follow must not be drawn over. */
  halt(): void {
    this.halted = true;
    this.stop();
  }
}

/**
 * Progress of a long task that is not training (the evaluation classifier's first training, an
 * evaluation): a bar with its ETA on a terminal, else a plain line at every tenth of the work
 * (or, for a task of a few long stages, at every stage).
 */
export class TaskProgress {
  private bar: SingleBar | undefined;
  private detail = '';
  private value = 0;
  private loggedTenths = 0;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly log: (line: string) => void,
    /** The stream the bar goes to: stdout, or stderr when stdout carries data (--json). */
    private readonly stream: NodeJS.WriteStream = process.stdout,
    private readonly lineEachUpdate = false,
  ) {}

  private eta(): string {
    const seconds = (performance.now() - this.started) / 1000;
    return this.value > 0 ? formatDuration((seconds * (this.total - this.value)) / this.value) : '?';
  }

  private parts(): LinePart[] {
    return [
      { text: this.label, drop: 3 },
      { text: '', bar: { progress: this.value / this.total, cells: 20, min: 8 }, drop: 2 },
      { text: `${this.value}/${this.total}` },
      { text: `ETA ${this.eta()}` },
      { text: this.detail, drop: 1 },
    ];
  }

  update(value: number, detail = ''): void {
    this.value = value;
    this.detail = detail;
    if (this.stream.isTTY) {
      if (!this.bar) {
        this.bar = lineBar(this.stream, (width) => fitLine(this.parts(), width));
        this.bar.start(this.total, value);
      } else this.bar.update(value);
      return;
    }
    const tenths = Math.floor((10 * value) / this.total);
    if (tenths > this.loggedTenths || (this.lineEachUpdate && value < this.total)) {
      this.loggedTenths = tenths;
      const eta = value > 0 ? `, ETA ${this.eta()}` : '';
      this.log(`${this.label}: ${value}/${this.total} (${Math.floor((100 * value) / this.total)}%)${eta}${detail ? `, ${detail}` : ''}`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
