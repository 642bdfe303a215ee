/**
 * The webgpu backend: a clear refusal where there is no adapter, loading where there is one, and
 * the pinned upload override, tested without a GPU (the class, the version guard, its contract).
 * Tests that need an adapter run on SwiftShader where there is no GPU (test/helpers.ts,
 * webGpuForTests) and skip where there is neither; training on it: test/webgpu-train.test.ts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir, webGpuForTests } from './helpers';
import { missingWebGpuPackages } from '../src/backends';
import {
  installWebGpuUploadFix,
  uninstallWebGpuUploadFix,
  uploadToGpuByWriteBuffer,
  WEBGPU_UPLOAD_FIX_VERSION,
  type WebGpuUploadBackend,
} from '../src/backends/webgpu/upload';
import { installWebGpuReadSyncGuard } from '../src/backends/webgpu/read';
import { countWebGpuCalls } from '../src/backends/webgpu/counters';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
const packagesMissing = missingWebGpuPackages().length > 0;
const noPackages = packagesMissing ? 'the optional WebGPU packages are not installed here' : false;

function gan(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test(
  '--backend webgpu without an adapter: one line naming gan doctor, exit 1, nothing written',
  {
    skip:
      process.platform !== 'linux' && !packagesMissing ? 'Dawn finds Metal or D3D12 adapters, which the environment cannot hide' : false,
  },
  () => {
    const out = path.join(tmpDir(), 'run');
    // A Vulkan driver list naming no file: no adapter, even on a machine with a GPU or SwiftShader.
    const none = path.join(tmpDir(), 'no-driver.json');
    const r = gan(['train', '--backend', 'webgpu', '--epochs', '1', '--limit', '64', '--out', out], {
      VK_ICD_FILENAMES: none,
      VK_DRIVER_FILES: none,
    });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^gan: error: backend webgpu is not available \(.+\)\. .*gan doctor/);
    if (packagesMissing) assert.match(lines[0], /npm install @tensorflow\/tfjs-backend-webgpu@4\.22\.0 webgpu@/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(fs.existsSync(out), false);
  },
);

test(
  '--backend webgpu with an adapter: it loads, names the adapter, applies the upload fix and computes',
  { timeout: 300_000 },
  async (t) => {
    const gpu = await webGpuForTests();
    if (gpu.skip) return t.skip(gpu.skip);
    // The backend loads and computes in its own process (one backend family per process).
    const probe = spawnSync(process.execPath, [path.resolve(__dirname, '..', 'src', 'backends', 'probe.js'), 'backend', 'webgpu'], {
      encoding: 'utf8',
    });
    const line = probe.stdout.split('\n').find((l) => l.startsWith('GAN_PROBE_RESULT '));
    assert.ok(line, probe.stderr);
    const result = JSON.parse(line!.slice('GAN_PROBE_RESULT '.length));
    assert.ok(result.ok && result.computes, JSON.stringify(result));
    assert.match(result.notice, /^GPU through WebGPU/);
    assert.match(result.notice, /upload fix on/);
  },
);

test('the upload fix replaces uploadToGPU on the WebGPUBackend class of the pinned version, and only there', { skip: noPackages }, () => {
  const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: { prototype: { uploadToGPU: unknown } } };
  const { version } = require('@tensorflow/tfjs-backend-webgpu/package.json') as { version: string };
  assert.equal(version, WEBGPU_UPLOAD_FIX_VERSION, 'package.json pins the version the override is written for');
  const original = WebGPUBackend.prototype.uploadToGPU;
  assert.equal(typeof original, 'function');
  try {
    // Another version: refused, with the reason; nothing replaced.
    const other = installWebGpuUploadFix(WebGPUBackend, '4.21.0', {});
    assert.equal(other.applied, false);
    assert.match(other.reason!, /written for @tensorflow\/tfjs-backend-webgpu 4\.22\.0, this is 4\.21\.0/);
    assert.equal(WebGPUBackend.prototype.uploadToGPU, original);
    // Switched off by the environment, for measuring with and without.
    assert.equal(installWebGpuUploadFix(WebGPUBackend, version, { GAN_WEBGPU_UPLOAD_FIX: '0' }).applied, false);
    assert.equal(WebGPUBackend.prototype.uploadToGPU, original);
    // The pinned version: replaced, idempotently, and restorable.
    assert.deepEqual(installWebGpuUploadFix(WebGPUBackend, version, {}), { applied: true });
    assert.deepEqual(installWebGpuUploadFix(WebGPUBackend, version, {}), { applied: true });
    assert.equal(WebGPUBackend.prototype.uploadToGPU, uploadToGpuByWriteBuffer);
    uninstallWebGpuUploadFix(WebGPUBackend);
    assert.equal(WebGPUBackend.prototype.uploadToGPU, original);
  } finally {
    uninstallWebGpuUploadFix(WebGPUBackend);
  }
});

/** A stand-in for the parts of a WebGPUBackend uploadToGPU touches, recording what it is asked. */
function recordingBackend(tensors: Map<object, { dtype: string; shape: number[]; values: ArrayLike<number> | null; resource?: unknown }>) {
  const calls: { acquire: unknown[][]; writes: Array<{ buffer: object; offset: number; data: ArrayBufferView }> } = {
    acquire: [],
    writes: [],
  };
  const backend: WebGpuUploadBackend = {
    tensorMap: { get: (id) => tensors.get(id)! as ReturnType<WebGpuUploadBackend['tensorMap']['get']> },
    bufferManager: {
      acquireBuffer: (...args: unknown[]) => {
        calls.acquire.push(args);
        return { pooledBuffer: calls.acquire.length };
      },
    },
    queue: { writeBuffer: (buffer, offset, data) => void calls.writes.push({ buffer, offset, data }) },
  };
  return { backend, calls };
}

test('the upload override: a pooled buffer filled by queue.writeBuffer, never mapped at creation', { skip: noPackages }, async () => {
  // The real WebGPU globals (GPUBufferUsage) from Dawn's package: they need no adapter.
  const specifier = 'webgpu';
  const { globals } = (await import(specifier)) as { globals: Record<string, unknown> };
  const usage = globals.GPUBufferUsage as Record<string, number>;
  Object.assign(globalThis, { GPUBufferUsage: usage });
  const want = usage.STORAGE | usage.COPY_SRC | usage.COPY_DST;

  const f32 = {},
    bool = {},
    out = {},
    resident = {},
    scalar = {};
  const tensors = new Map<object, { dtype: string; shape: number[]; values: ArrayLike<number> | null; resource?: unknown }>([
    [f32, { dtype: 'float32', shape: [2, 2], values: new Float32Array([1, 2, 3, 4]) }],
    [bool, { dtype: 'bool', shape: [3], values: new Uint8Array([1, 0, 1]) }],
    [out, { dtype: 'float32', shape: [5], values: null }],
    [resident, { dtype: 'float32', shape: [1], values: null, resource: { already: true } }],
    [scalar, { dtype: 'int32', shape: [], values: new Int32Array([7]) }],
  ]);
  const { backend, calls } = recordingBackend(tensors);
  for (const id of [f32, bool, out, resident, scalar]) uploadToGpuByWriteBuffer.call(backend, id);

  // One acquisition per tensor not yet on the GPU, with tfjs's usage and no mappedAtCreation.
  assert.deepEqual(calls.acquire, [
    [16, want],
    [12, want],
    [20, want],
    [4, want],
  ]);
  assert.equal(calls.writes.length, 3, 'the output tensor (no values) is allocated, not written');
  assert.deepEqual(Array.from(calls.writes[0].data as Float32Array), [1, 2, 3, 4]);
  assert.ok(calls.writes[0].data instanceof Float32Array);
  assert.ok(calls.writes[1].data instanceof Int32Array, 'bool uploads as int32 words, as tfjs does');
  assert.deepEqual(Array.from(calls.writes[1].data as Int32Array), [1, 0, 1]);
  assert.deepEqual(Array.from(calls.writes[2].data as Int32Array), [7]);
  for (const w of calls.writes) assert.equal(w.offset, 0);
  // Values leave the CPU once uploaded; every tensor now holds its buffer.
  assert.equal(tensors.get(f32)!.values, null);
  assert.deepEqual(tensors.get(f32)!.resource, { pooledBuffer: 1 });
  assert.deepEqual(tensors.get(out)!.resource, { pooledBuffer: 3 });
  assert.deepEqual(tensors.get(resident)!.resource, { already: true });
});

test('dataSync of a GPU tensor on webgpu in Node: a clear error instead of OffscreenCanvas', () => {
  class FakeBackend {
    tensorMap = new Map<object, { values?: unknown; dtype: string }>();
    readSync(dataId: object): unknown {
      return this.tensorMap.get(dataId)!.values;
    }
  }
  installWebGpuReadSyncGuard(FakeBackend);
  const b = new FakeBackend();
  const onCpu = {},
    onGpu = {};
  b.tensorMap.set(onCpu, { values: new Float32Array([1]), dtype: 'float32' });
  b.tensorMap.set(onGpu, { dtype: 'float32' });
  assert.deepEqual(b.readSync(onCpu), new Float32Array([1]));
  assert.throws(() => b.readSync(onGpu), /cannot read a GPU tensor synchronously in Node.*await tensor\.data\(\)/);
});

test('the bench counters: dispatches, submits and buffer writes counted through the calls, and the originals restored', () => {
  const calls: string[] = [];
  class FakePassEncoder {
    dispatchWorkgroups(x: number) {
      calls.push(`dispatch ${x}`);
    }
  }
  class FakeQueue {
    submit() {
      calls.push('submit');
    }
    writeBuffer() {
      calls.push('write');
    }
  }
  const g = globalThis as { GPUComputePassEncoder?: unknown };
  const before = g.GPUComputePassEncoder;
  g.GPUComputePassEncoder = FakePassEncoder;
  const originalDispatch = FakePassEncoder.prototype.dispatchWorkgroups;
  try {
    const queue = new FakeQueue();
    const { counts, restore } = countWebGpuCalls({ queue });
    const pass = new FakePassEncoder();
    pass.dispatchWorkgroups(4);
    pass.dispatchWorkgroups(2);
    queue.writeBuffer();
    queue.submit();
    assert.deepEqual(counts, { dispatches: 2, submits: 1, bufferWrites: 1 });
    assert.deepEqual(calls, ['dispatch 4', 'dispatch 2', 'write', 'submit'], 'every call still reaches the original');
    restore();
    assert.equal(FakePassEncoder.prototype.dispatchWorkgroups, originalDispatch);
    assert.equal(Object.hasOwn(queue, 'submit') || Object.hasOwn(queue, 'writeBuffer'), false);
    pass.dispatchWorkgroups(1);
    assert.equal(counts.dispatches, 2, 'nothing counted after restore');
    assert.throws(() => countWebGpuCalls({}), /not a webgpu backend/);
  } finally {
    g.GPUComputePassEncoder = before;
  }
});
