/**
 * Scalar constants made once and kept, instead of a new tensor for a number on every call.
 *
 * Why: `tf.mul(x, 0.9)` makes a scalar tensor on the CPU each time; on the webgpu backend every
 * one is uploaded with its own buffer write, every step (each costs a fixed 20-50 us through
 * Dawn on a GPU). A kept tensor holding the same float32 value gives the same result on every
 * backend, so the CPU paths' numbers do not change. The owner disposes them.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';

export class Constants {
  private readonly scalars = new Map<number, tfType.Scalar>();

  constructor(private readonly tf: Tf) {}

  /** The float32 scalar `value`, made on first use (kept outside any tidy). */
  scalar(value: number): tfType.Scalar {
    const key = Math.fround(value);
    let s = this.scalars.get(key);
    if (!s) {
      s = this.tf.keep(this.tf.scalar(key));
      this.scalars.set(key, s);
    }
    return s;
  }

  dispose(): void {
    for (const s of this.scalars.values()) s.dispose();
    this.scalars.clear();
  }
}
