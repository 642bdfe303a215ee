/**
 * Walks through the latent space. Spherical interpolation (slerp) rather than a straight line:
 * z ~ N(0, I) in 100 dimensions lies near a sphere of radius ~10, and the straight line between
 * two such points passes well inside it, where the generator saw almost no noise in training
 * (T. White, "Sampling Generative Networks", 2016). No imports: also compiled for the browser.
 */

/** slerp(a, b, t): a at t = 0, b at t = 1, along the great circle (scaled by the norms). */
export function slerp(a: Float32Array, b: Float32Array, t: number, out: Float32Array = new Float32Array(a.length)): Float32Array {
  if (a.length !== b.length) throw new Error(`slerp: vectors of length ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const cos = na > 0 && nb > 0 ? Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb))) : 1;
  const omega = Math.acos(cos);
  const sin = Math.sin(omega);
  // Nearly parallel (or a zero vector): the arc is a line, and the formula would divide by ~0.
  const [wa, wb] = sin < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / sin, Math.sin(t * omega) / sin];
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i] + wb * b[i];
  return out;
}

/**
 * Frames of a walk through `points` in order, `framesPerSegment` per leg, each leg a slerp.
 * With `loop`, the last leg returns to the first point, so an animation repeats without a jump;
 * every point appears once, at the start of its leg.
 */
export function latentWalk(points: Float32Array[], framesPerSegment: number, loop = true): Float32Array[] {
  if (points.length < 2) throw new Error('latentWalk: need at least two points');
  if (!(framesPerSegment >= 1)) throw new Error('latentWalk: need at least one frame per segment');
  const frames: Float32Array[] = [];
  const legs = loop ? points.length : points.length - 1;
  for (let leg = 0; leg < legs; leg++) {
    const a = points[leg];
    const b = points[(leg + 1) % points.length];
    for (let f = 0; f < framesPerSegment; f++) frames.push(slerp(a, b, f / framesPerSegment));
  }
  if (!loop) frames.push(Float32Array.from(points[points.length - 1]));
  return frames;
}
