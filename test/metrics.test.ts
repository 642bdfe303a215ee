import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { meanAndCovariance, symmetricEigen, sqrtPsd, frechetDistance, inceptionScore, modeCoverage } from '../src/eval/metrics';
import { Rng } from '../src/core/rng';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('mean and covariance of a known sample', () => {
  const x = Float64Array.from([1, 2, 3, 4, 5, 9]); // rows (1,2), (3,4), (5,9)
  const { mean, cov } = meanAndCovariance(x, 3, 2);
  assert.deepEqual(Array.from(mean), [3, 5]);
  assert.deepEqual(Array.from(cov), [4, 7, 7, 13]);
});

test('symmetric eigen-decomposition and square root match known answers', () => {
  // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  const sorted = Array.from(values).sort((x, y) => x - y);
  close(sorted[0], 1, 1e-12, 'eigenvalue 1');
  close(sorted[1], 3, 1e-12, 'eigenvalue 3');
  // sqrt([[5, 4], [4, 5]]) = [[2, 1], [1, 2]] since [[2,1],[1,2]]^2 = [[5,4],[4,5]].
  const r = sqrtPsd(Float64Array.from([5, 4, 4, 5]), 2);
  [2, 1, 1, 2].forEach((v, i) => close(r[i], v, 1e-12, `sqrt[${i}]`));
  // A random 20 x 20 PSD matrix: sqrt(A)^2 = A.
  const d = 20;
  const g = Rng.for(1, 0).fillNormal(new Float32Array(d * d));
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) a[i * d + j] += g[i * d + k] * g[j * d + k];
  const s = sqrtPsd(a, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let k = 0; k < d; k++) v += s[i * d + k] * s[k * d + j];
      close(v, a[i * d + j], 1e-9 * 400, `(sqrt A)^2[${i},${j}]`);
    }
  }
});

test('Fréchet distance: 0 for identical Gaussians, the closed form for diagonal ones', () => {
  const mu = Float64Array.from([1, 2]);
  const s = Float64Array.from([2, 0.5, 0.5, 1]);
  close(frechetDistance(mu, s, mu, s, 2), 0, 1e-9, 'same');
  // Diagonal: |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
  const fd = frechetDistance(
    Float64Array.from([0, 0]),
    Float64Array.from([4, 0, 0, 9]),
    Float64Array.from([3, 4]),
    Float64Array.from([1, 0, 0, 1]),
    2,
  );
  close(fd, 25 + (2 - 1) ** 2 + (3 - 1) ** 2, 1e-9, 'diagonal');
});

test('Fréchet distance of correlated 2-d Gaussians: the closed form Tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))', () => {
  // For 2 x 2, S1 S2 has eigenvalues l1, l2 >= 0 with l1 + l2 = tr(S1 S2) and l1 l2 = det S1 det S2,
  // so Tr sqrt(S1 S2) = sqrt(l1) + sqrt(l2) = sqrt(l1 + l2 + 2 sqrt(l1 l2)).
  const closedForm = (mu1: number[], s1: number[], mu2: number[], s2: number[]) => {
    const trProduct = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
    const det = (s: number[]) => s[0] * s[3] - s[1] * s[2];
    const traceSqrt = Math.sqrt(trProduct + 2 * Math.sqrt(det(s1) * det(s2)));
    return (mu1[0] - mu2[0]) ** 2 + (mu1[1] - mu2[1]) ** 2 + s1[0] + s1[3] + s2[0] + s2[3] - 2 * traceSqrt;
  };
  const fd = (mu1: number[], s1: number[], mu2: number[], s2: number[]) =>
    frechetDistance(Float64Array.from(mu1), Float64Array.from(s1), Float64Array.from(mu2), Float64Array.from(s2), 2);
  // Opposite correlations, equal variances: a formula that ignored off-diagonal terms would say 0.
  const pos = [1, 0.9, 0.9, 1];
  const neg = [1, -0.9, -0.9, 1];
  close(fd([0, 0], pos, [0, 0], neg), 4 - 2 * Math.sqrt(0.76), 1e-12, 'opposite correlations');
  close(fd([0, 0], pos, [0, 0], neg), 2.2564, 1e-4, 'opposite correlations, by hand');
  // Random covariances A A^T + 0.1 I, off-diagonals of every sign, and random means.
  const rng = Rng.for(21, 0);
  const u = () => 4 * rng.next() - 2;
  for (let k = 0; k < 50; k++) {
    const spd = () => {
      const [a, b, c, d] = [u(), u(), u(), u()];
      return [a * a + b * b + 0.1, a * c + b * d, a * c + b * d, c * c + d * d + 0.1];
    };
    const [mu1, s1, mu2, s2] = [[u(), u()], spd(), [u(), u()], spd()];
    const want = closedForm(mu1, s1, mu2, s2);
    close(fd(mu1, s1, mu2, s2), want, 1e-9 * (1 + want), `pair ${k}`);
    close(fd(mu2, s2, mu1, s1), want, 1e-9 * (1 + want), `pair ${k}, swapped`);
  }
});

test('Inception Score: 1 for one sure class, k for k equally used sure classes, 1 for uniform guesses', () => {
  const k = 10;
  const oneHot = (cls: (i: number) => number, n: number) => {
    const p = new Float64Array(n * k);
    for (let i = 0; i < n; i++) p[i * k + cls(i)] = 1;
    return p;
  };
  close(
    inceptionScore(
      oneHot(() => 3, 100),
      100,
      k,
    ),
    1,
    1e-12,
    'single class',
  );
  close(
    inceptionScore(
      oneHot((i) => i % k, 100),
      100,
      k,
    ),
    10,
    1e-9,
    'ten classes',
  );
  close(inceptionScore(new Float64Array(100 * k).fill(0.1), 100, k), 1, 1e-12, 'uniform');
});

test('mode coverage: one digit covers 1 class with KL ln 10; balanced classes cover 10 with KL 0', () => {
  const k = 10;
  const single = new Float64Array(50 * k);
  for (let i = 0; i < 50; i++) ((single[i * k + 7] = 0.9), (single[i * k + 1] = 0.1));
  const c1 = modeCoverage(single, 50, k);
  assert.equal(c1.classesCovered, 1);
  close(c1.klToUniform, Math.log(10), 1e-12);
  close(c1.meanMaxConfidence, 0.9, 1e-12);
  assert.equal(c1.histogram[7], 1);
  const balanced = new Float64Array(100 * k);
  for (let i = 0; i < 100; i++) balanced[i * k + (i % k)] = 1;
  const c2 = modeCoverage(balanced, 100, k);
  assert.equal(c2.classesCovered, 10);
  close(c2.klToUniform, 0, 1e-12);
});
