/**
 * Counter-based random numbers. Every random draw in training is a pure function of
 * (seed, stream, counter), never of hidden global state, so a run resumed at step k draws
 * exactly what an uninterrupted run draws at step k.
 *
 * The generator is SplitMix32-style hashing of a 32-bit state: fast in plain JS (no BigInt),
 * well mixed, and more than good enough for data order, noise and dropout masks.
 */

/** Named streams keep independent uses of the same step from sharing numbers. */
export const Stream = {
  init: 1,
  shuffle: 2,
  noiseD: 3,
  noiseG: 4,
  dropoutD: 5,
  dropoutG: 6,
  fixedNoise: 7,
  sample: 8,
  /** Conditional runs: the digits asked of G in the D step and in the G step. */
  labelsD: 9,
  labelsG: 10,
  /** The stabilising tricks (src/train/tricks.ts): uniform real targets, instance noise in each step, replay picks. */
  smoothing: 11,
  instanceNoiseD: 12,
  instanceNoiseG: 13,
  replay: 14,
} as const;

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A 32-bit key for (seed, stream, counter); counter may exceed 2^32 (step numbers do not). */
export function deriveKey(seed: number, stream: number, counter = 0): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(stream + 1, 0x632be5ab));
  h = mix32(h ^ (counter >>> 0));
  return mix32(h ^ Math.floor(counter / 0x100000000));
}

/** A sequential generator seeded by a key: next() gives uniform uint32. */
export class Rng {
  private state: number;
  constructor(key: number) {
    this.state = key >>> 0;
  }
  static for(seed: number, stream: number, counter = 0): Rng {
    return new Rng(deriveKey(seed, stream, counter));
  }
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }
  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 0x100000000;
  }
  /** Uniform integer in [0, n). The bias for n << 2^32 is far below anything measurable here. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * this.next();
    return out;
  }
  /** Standard normal by Box-Muller, two values per pair of uniforms. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      // 1 - u keeps log() away from 0.
      const r = Math.sqrt(-2 * Math.log(1 - this.next()));
      const theta = 2 * Math.PI * this.next();
      out[i] = r * Math.cos(theta);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }
  /**
   * Inverted dropout mask: each entry is 0 with probability `rate`, else 1 / (1 - rate), so
   * that multiplying by it keeps the expected activation unchanged.
   */
  fillDropoutMask(out: Float32Array, rate: number): Float32Array {
    const keep = 1 / (1 - rate);
    for (let i = 0; i < out.length; i++) out[i] = this.next() < rate ? 0 : keep;
    return out;
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
