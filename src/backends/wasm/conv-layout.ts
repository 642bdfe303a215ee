/**
 * Pure data-layout steps of the Conv2DBackpropInput kernel (conv-backprop-input.ts), over plain
 * Float32Arrays: rotating and transposing filters, and folding columns back into an image.
 */

/** Wr[kh, kw, o, c] = W[kH-1-kh, kW-1-kw, c, o]. */
export function rotateFilter(w: Float32Array, wr: Float32Array, kH: number, kW: number, inC: number, outC: number): void {
  const tap = inC * outC;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const src = ((kH - 1 - kh) * kW + (kW - 1 - kw)) * tap;
      const dst = (kh * kW + kw) * tap;
      if (inC === 1 || outC === 1) {
        // [inC, outC] -> [outC, inC] is the identity on the flat block.
        wr.set(w.subarray(src, src + tap), dst);
        continue;
      }
      for (let c = 0; c < inC; c++) {
        const s = src + c * outC;
        let d = dst + c;
        for (let o = 0; o < outC; o++, d += inC) wr[d] = w[s + o] as number;
      }
    }
  }
}

/** Wt[o, k] = W[k, o] for W viewed as [K, outC]. */
export function transposeFilter(w: Float32Array, wt: Float32Array, K: number, outC: number): void {
  if (outC === 1 || K === 1) {
    wt.set(w.subarray(0, K * outC));
    return;
  }
  for (let k = 0; k < K; k++) {
    const s = k * outC;
    let d = k;
    for (let o = 0; o < outC; o++, d += K) wt[d] = w[s + o] as number;
  }
}

/**
 * dx [N, H, W, C] = col2im(cols [N*outH*outW, kH*kW*C]): scatter-add of
 * every in-image tap. Overwrites dx.
 */
export function col2im(
  cols: Float32Array,
  dx: Float32Array,
  N: number,
  H: number,
  W: number,
  C: number,
  outH: number,
  outW: number,
  kH: number,
  kW: number,
  sH: number,
  sW: number,
  top: number,
  left: number,
): void {
  dx.fill(0);
  const K = kH * kW * C;
  let src = 0;
  for (let n = 0; n < N; n++) {
    const xn = n * H * W * C;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * sH - top;
      for (let ow = 0; ow < outW; ow++, src += K) {
        const iw0 = ow * sW - left;
        for (let kh = 0; kh < kH; kh++) {
          const ih = ih0 + kh;
          if (ih < 0 || ih >= H) continue;
          const kwLo = Math.max(0, -iw0);
          const kwHi = Math.min(kW, W - iw0);
          if (kwLo >= kwHi) continue;
          // Taps kw in [kwLo, kwHi) map to iw0+kw: one contiguous run of
          // (kwHi-kwLo)*C floats in both cols and dx.
          const s0 = src + (kh * kW + kwLo) * C;
          const d0 = xn + (ih * W + iw0 + kwLo) * C;
          const len = (kwHi - kwLo) * C;
          for (let i = 0; i < len; i++) dx[d0 + i] += cols[s0 + i] as number;
        }
      }
    }
  }
}
