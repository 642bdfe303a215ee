/**
 * Sample-quality measures over classifier outputs, as TF-GAN computes them for MNIST (with an
 * MNIST classifier in place of Inception). Pure functions over typed arrays: no tfjs, tested
 * against known answers.
 *
 *   FID   ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), over penultimate-layer features
 *   IS    exp(E_x KL(p(y|x) || p(y))), over softmax outputs; 1 = useless, 10 = ten sure classes
 */

/** Column means and covariance (unbiased, n - 1) of n rows of d features, in float64. */
export function meanAndCovariance(x: Float32Array | Float64Array, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  if (n < 2) throw new Error('meanAndCovariance: need at least 2 rows');
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b] / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric d x d matrix by cyclic Jacobi rotations: accurate to
 * machine precision for the small (d <= a few hundred) covariances here, and it never produces
 * the complex parts that a general sqrtm of a non-symmetric S_r S_g does.
 * Returns eigenvalues and the eigenvectors as the columns of `vectors` (row-major d x d).
 */
export function symmetricEigen(matrix: Float64Array, d: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let norm = 0;
    for (let p = 0; p < d; p++) {
      for (let q = 0; q < d; q++) {
        const x = a[p * d + q] * a[p * d + q];
        norm += x;
        if (p !== q) off += x;
      }
    }
    if (off <= 1e-30 * Math.max(norm, 1e-300)) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        const app = a[p * d + p];
        const aqq = a[q * d + q];
        // The rotation angle that zeroes a[p][q] (Golub & Van Loan, symmetric Schur).
        const tau = (aqq - app) / (2 * apq);
        const t = Math.sign(tau || 1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

/** The symmetric square root V sqrt(max(L, 0)) V^T of a symmetric positive semi-definite matrix. */
export function sqrtPsd(matrix: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    // Tiny negative eigenvalues are rounding noise of a PSD matrix.
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k] * s;
      for (let j = 0; j < d; j++) out[i * d + j] += vik * vectors[j * d + k];
    }
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
    }
  }
  return out;
}

/**
 * Fréchet distance between N(mu1, s1) and N(mu2, s2). Tr((s1 s2)^(1/2)) is computed as
 * Tr((s1^(1/2) s2 s1^(1/2))^(1/2)): the same eigenvalues, but of a symmetric PSD matrix.
 */
export function frechetDistance(mu1: Float64Array, s1: Float64Array, mu2: Float64Array, s2: Float64Array, d: number): number {
  let meanTerm = 0;
  for (let i = 0; i < d; i++) meanTerm += (mu1[i] - mu2[i]) ** 2;
  const r1 = sqrtPsd(s1, d);
  const m = matMul(matMul(r1, s2, d), r1, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const avg = (m[i * d + j] + m[j * d + i]) / 2; // symmetric up to rounding; make it exact
      m[i * d + j] = avg;
      m[j * d + i] = avg;
    }
  }
  const { values } = symmetricEigen(m, d);
  let traceSqrt = 0;
  for (const v of values) traceSqrt += Math.sqrt(Math.max(v, 0));
  let trace = 0;
  for (let i = 0; i < d; i++) trace += s1[i * d + i] + s2[i * d + i];
  return Math.max(0, meanTerm + trace - 2 * traceSqrt);
}

/** Inception Score of n rows of class probabilities (k classes): exp(mean KL(p(y|x) || p(y))). */
export function inceptionScore(probs: Float32Array | Float64Array, n: number, k: number): number {
  const marginal = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) marginal[c] += probs[i * k + c] / n;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c];
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c]));
    }
  }
  return Math.exp(kl / n);
}

export interface Coverage {
  /** Fraction of samples predicted as each class. */
  histogram: number[];
  /** Classes holding at least `minShare` of the samples. */
  classesCovered: number;
  /** KL(histogram || uniform) in nats: 0 = perfectly balanced, ln k = one class only. */
  klToUniform: number;
  /** Mean of the highest class probability: how sure the classifier is of the samples. */
  meanMaxConfidence: number;
}

/** Mode coverage from class probabilities: the histogram of argmax classes and its balance. */
export function modeCoverage(probs: Float32Array | Float64Array, n: number, k: number, minShare = 0.05): Coverage {
  const counts = new Array<number>(k).fill(0);
  let confidence = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    counts[best]++;
    confidence += probs[i * k + best];
  }
  const histogram = counts.map((c) => c / n);
  let kl = 0;
  for (const h of histogram) if (h > 0) kl += h * Math.log(h * k);
  return {
    histogram,
    classesCovered: histogram.filter((h) => h >= minShare).length,
    klToUniform: kl,
    meanMaxConfidence: confidence / n,
  };
}
