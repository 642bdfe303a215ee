/**
 * Failure-mode diagnosis: after each epoch the trainer looks at signals it already has (the
 * epoch means of D(x), D(G(z)) and the losses, their spread over the epoch's steps, and with
 * --eval-every the class coverage and FID) and names the failure mode that shows, with the trick
 * to try. Pure: a function of the run's metrics lines, so a resumed run diagnoses as an
 * uninterrupted one, and tests feed it recorded runs.
 *
 * Thresholds were set from real runs (README, "Failure diagnosis"): a healthy default MLP run
 * keeps D(x) in 0.57-0.74 and D(G(z)) in 0.27-0.58 with d_loss spread below 0.25 per epoch, and
 * covers 9-10 classes; the broken runs (--lr 0.01, a tiny generator, D trained on real images
 * only) cross them within two epochs.
 */

import type { Arch } from '../config';

/** What diagnosis reads of one epoch's metrics line. */
export interface EpochSignals {
  epoch: number;
  d_loss: number;
  g_loss: number;
  d_real: number;
  d_fake: number;
  /** Standard deviation of the per-step d_loss / g_loss over the epoch (absent in old runs). */
  d_loss_std?: number;
  g_loss_std?: number;
  /** With --eval-every, on evaluated epochs. */
  fid?: number;
  classes_covered?: number;
}

export type FailureMode = 'discriminator_wins' | 'discriminator_fooled' | 'oscillation' | 'mode_collapse' | 'fid_rising';

export interface Diagnosis {
  mode: FailureMode;
  /** The one line shown to the user: the evidence, what it means, and the trick to try. */
  message: string;
}

/** The thresholds, in one place (docs/tricks.md, "Failure diagnosis", explains each). */
export const THRESHOLDS = {
  /** Epochs a signal must hold before it is reported. */
  epochs: 2,
  /** D(G(z)) below this: D rejects every fake, G's gradients vanish. */
  dFakeLow: 0.07,
  /** D(G(z)) and D(x) both above this: D calls everything real, G learns nothing. */
  dFooled: 0.9,
  /**
   * Per-step d_loss spread above this within an epoch: the game oscillates. Per architecture: a
   * healthy DCGAN's d_loss swings more from step to step (batch norm over two separate batches;
   * 0.35-0.70 in the default run's first five epochs, seed 7) than a healthy MLP's (below 0.25),
   * while broken runs swing by 1.5 and more (--lr 0.01).
   */
  dLossStd: { mlp: 0.45, dcgan: 1.0 } as Record<Arch, number>,
  /** Classes holding >= 5% of the samples at or below this: mode collapse. */
  classesCovered: 6,
  /** FID this many times its best so far, at two evaluations in a row: training is falling apart. */
  fidRatio: 1.5,
};

const f = (x: number, d = 3) => x.toFixed(d);

/** The failure mode the latest epochs show, or undefined for a healthy run. Most severe first. */
export function diagnose(history: EpochSignals[], arch: Arch = 'mlp'): Diagnosis | undefined {
  const n = THRESHOLDS.epochs;
  const dLossStd = THRESHOLDS.dLossStd[arch];
  const last = history.slice(-n);
  const held = (p: (e: EpochSignals) => boolean) => last.length >= n && last.every(p);
  const now = history[history.length - 1];
  if (!now) return undefined;

  if (held((e) => e.d_fake < THRESHOLDS.dFakeLow)) {
    const evidence = `D(G(z)) below ${THRESHOLDS.dFakeLow} for ${n} epochs (now ${f(now.d_fake, 4)}, D(x) ${f(now.d_real)})`;
    // Wild swings beside it point at the step size (--lr 0.01 does this); a calm, lost game at a
    // generator too weak to compete (a tiny G does this).
    const swinging = last.every((e) => (e.d_loss_std ?? 0) > dLossStd);
    return {
      mode: 'discriminator_wins',
      message: swinging
        ? `${evidence} while the losses swing (d_loss std ${f(now.d_loss_std!)}): the discriminator is winning and the steps are too large; lower --lr (the default is 0.0002), then try --label-smoothing 0.1 --one-sided`
        : `${evidence}: the discriminator is winning and G's gradients vanish; try --label-smoothing 0.1 --one-sided or --instance-noise 0.1, or a larger generator`,
    };
  }
  if (held((e) => e.d_fake > THRESHOLDS.dFooled && e.d_real > THRESHOLDS.dFooled)) {
    return {
      mode: 'discriminator_fooled',
      message: `D(x) and D(G(z)) both above ${THRESHOLDS.dFooled} for ${n} epochs (now ${f(now.d_real)} and ${f(now.d_fake)}): the discriminator calls everything real, so G gets no signal; check that D trains on generated images, and try --replay 50 so it sees more of them`,
    };
  }
  if (held((e) => (e.d_loss_std ?? 0) > dLossStd)) {
    return {
      mode: 'oscillation',
      message: `d_loss swings by ${f(now.d_loss_std!)} (std over steps) for ${n} epochs: the two networks oscillate instead of converging; try a lower --lr, --ema 0.995 or --historical-averaging 0.001`,
    };
  }
  const evaluated = history.filter((e) => e.classes_covered !== undefined);
  const lastEval = evaluated[evaluated.length - 1];
  if (lastEval && lastEval === now && lastEval.classes_covered! <= THRESHOLDS.classesCovered) {
    return {
      mode: 'mode_collapse',
      message: `samples cover only ${lastEval.classes_covered} of 10 digit classes: mode collapse; try --feature-matching or --replay 50 (or --preset stable)`,
    };
  }
  if (evaluated.length > n && now === lastEval) {
    const best = Math.min(...evaluated.slice(0, -n).map((e) => e.fid!));
    const recent = evaluated.slice(-n);
    if (recent.every((e) => e.fid! > THRESHOLDS.fidRatio * best)) {
      return {
        mode: 'fid_rising',
        message: `FID ${f(now.fid!, 1)} is above ${THRESHOLDS.fidRatio}x its best (${f(best, 1)}) at ${n} evaluations in a row: the generator is getting worse; the best checkpoint is kept in best/; try --ema 0.995 or a lower --lr`,
      };
    }
  }
  return undefined;
}
