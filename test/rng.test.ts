import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Rng, Stream, permutation, deriveKey } from '../src/core/rng';

test('the same (seed, stream, counter) gives the same numbers; any change gives others', () => {
  const a = Rng.for(1, Stream.noiseD, 5).fillUniform(new Float32Array(8));
  assert.deepEqual(a, Rng.for(1, Stream.noiseD, 5).fillUniform(new Float32Array(8)));
  assert.notDeepEqual(a, Rng.for(1, Stream.noiseD, 6).fillUniform(new Float32Array(8)));
  assert.notDeepEqual(a, Rng.for(1, Stream.noiseG, 5).fillUniform(new Float32Array(8)));
  assert.notDeepEqual(a, Rng.for(2, Stream.noiseD, 5).fillUniform(new Float32Array(8)));
  assert.notEqual(deriveKey(0, 1, 2 ** 32), deriveKey(0, 1, 0));
});

test('uniforms lie in [0, 1) with mean 1/2; normals have mean 0 and variance 1', () => {
  const u = Rng.for(3, 0).fillUniform(new Float32Array(100000));
  let s = 0;
  for (const x of u) {
    assert.ok(x >= 0 && x < 1);
    s += x;
  }
  assert.ok(Math.abs(s / u.length - 0.5) < 0.01);
  const z = Rng.for(3, 1).fillNormal(new Float32Array(100001));
  let m = 0,
    v = 0;
  for (const x of z) m += x;
  m /= z.length;
  for (const x of z) v += (x - m) ** 2;
  v /= z.length;
  assert.ok(Math.abs(m) < 0.02, `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 0.02, `variance ${v}`);
});

test('dropout masks drop about `rate` and scale the rest by 1/(1-rate)', () => {
  const mask = Rng.for(4, 0).fillDropoutMask(new Float32Array(100000), 0.3);
  const kept = mask.filter((x) => x !== 0);
  assert.ok(Math.abs(1 - kept.length / mask.length - 0.3) < 0.01);
  assert.ok(kept.every((x) => Math.abs(x - 1 / 0.7) < 1e-6));
});

test('permutations are permutations', () => {
  const p = permutation(257, Rng.for(5, 0));
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 257 }, (_, i) => i),
  );
});
