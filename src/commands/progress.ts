/**
 * What `gan train` shows while it trains: the live progress within an epoch (a bar on a
 * terminal, plain lines elsewhere) and the line that closes each epoch.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { EpochMetrics, ProgressInfo } from '../train/types';

const fmt = (x: number, digits = 4) => x.toFixed(digits);

/** The line printed at the end of every epoch: its losses and timing, and the evaluation when there was one. */
export function epochLine(m: EpochMetrics, epochs: number): string {
  const line = `epoch ${m.epoch}/${epochs}  d_loss ${fmt(m.d_loss)}  g_loss ${fmt(m.g_loss)}  D(x) ${fmt(m.d_real, 3)}  D(G(z)) ${fmt(m.d_fake, 3)}  ${m.seconds.toFixed(1)} s  ${m.ms_per_iter.toFixed(1)} ms/it`;
  if (m.fid === undefined) return line;
  return `${line}  FID ${m.fid.toFixed(2)}  IS ${m.inception_score!.toFixed(2)}  classes ${m.classes_covered}${m.best ? ' (best)' : ''}`;
}

/**
 * Progress within an epoch. On a terminal, a bar redrawn in place and cleared at the epoch's end,
 * where the epoch line takes its place. Elsewhere (a file, a pipe, a CI log) a bar would only
 * add noise: nothing, or with --log-every N a plain line every N steps.
 */
export class ProgressDisplay {
  private readonly interactive = process.stdout.isTTY === true;
  private bar: SingleBar | undefined;
  private lastLoggedStep = 0;

  constructor(
    private readonly epochs: number,
    private readonly logEvery: number | undefined,
    private readonly log: (line: string) => void,
  ) {}

  update(p: ProgressInfo): void {
    if (!this.interactive) {
      if (this.logEvery && p.step - this.lastLoggedStep >= this.logEvery) {
        this.lastLoggedStep = p.step;
        this.log(
          `epoch ${p.epoch}/${this.epochs}  step ${p.step}  ${p.iteration}/${p.itersPerEpoch}  ${p.itPerSec.toFixed(1)} it/s  d_loss ${fmt(p.means.d_loss, 3)}  g_loss ${fmt(p.means.g_loss, 3)}`,
        );
      }
      return;
    }
    const payload = {
      epoch: `${p.epoch}/${this.epochs}`,
      its: p.itPerSec.toFixed(1),
      d_loss: fmt(p.means.d_loss, 3),
      g_loss: fmt(p.means.g_loss, 3),
      d_real: fmt(p.means.d_real, 3),
      d_fake: fmt(p.means.d_fake, 3),
    };
    if (this.bar) {
      this.bar.update(p.iteration, payload);
      return;
    }
    this.bar = new SingleBar(
      {
        format:
          'epoch {epoch} {bar} {value}/{total} | {its} it/s | ETA {eta_formatted} | d_loss {d_loss} g_loss {g_loss} D(x) {d_real} D(G(z)) {d_fake}',
        stream: process.stdout,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    this.bar.start(p.itersPerEpoch, p.iteration, payload);
  }

  /** Clears the bar, if one is shown, and gives the terminal its cursor back; the next update starts a new bar. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
