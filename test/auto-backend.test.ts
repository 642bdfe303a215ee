/**
 * What `--backend auto` takes between webgpu and wasm: the pure decision (src/backends/auto.ts),
 * the calibration path with a fake measurer, and the per-machine cache (src/backends/machine.ts),
 * corrupt files included. No backend is loaded.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import {
  chooseAuto,
  decideAuto,
  softwareAdapter,
  workloadKey,
  type AdapterInfo,
  type AutoDeps,
  type Calibration,
  type Workload,
} from '../src/backends/auto';
import { fileStore, gpuSeen, pciComputeGpus, readCacheFile } from '../src/backends/machine';
import { fitNotice, NOTICE_COLUMNS } from '../src/backends';
import { workloadOf } from '../src/commands/train';
import { resolveTrainConfig } from '../src/config';

const SWIFTSHADER: AdapterInfo = {
  vendor: 'google',
  architecture: 'swiftshader',
  device: 'swiftshader-device-subzero-',
  description: 'SwiftShader driver 5.0.0',
  isFallbackAdapter: true,
};
const LLVMPIPE: AdapterInfo = { vendor: 'mesa', architecture: '', device: 'llvmpipe (LLVM 15.0.6, 256 bits)', description: 'Mesa 22.3.6' };
const H100: AdapterInfo = { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', description: 'NVIDIA: 550.54.15' };
const MLP: Workload = {
  arch: 'mlp',
  generatorHidden: [256, 512, 1024],
  discriminatorHidden: [512, 256],
  conditional: false,
  batchSize: 64,
};
const cal = (webgpuMs: number | undefined, cpuMs: number | undefined): Calibration => ({ webgpuMs, cpuMs, cpuBackend: 'wasm', at: 'now' });
const onGpu = { gpuSeen: true, workload: MLP };

test('software adapters are named and never taken, whatever a calibration says', () => {
  assert.equal(softwareAdapter(SWIFTSHADER), 'SwiftShader');
  assert.equal(softwareAdapter(LLVMPIPE), 'llvmpipe');
  assert.equal(softwareAdapter({ vendor: 'mesa', device: 'lavapipe' }), 'lavapipe');
  assert.equal(softwareAdapter({ vendor: 'x', device: 'y', adapterType: 'CPU' }), 'a CPU-type adapter');
  assert.equal(softwareAdapter(H100), undefined);
  for (const info of [SWIFTSHADER, LLVMPIPE]) {
    const d = decideAuto({ ...onGpu, adapter: { info }, calibration: cal(1, 100) });
    assert.equal(d.backend, 'cpu');
    assert.match(d.reason!, /software/);
  }
});

test('a real GPU: taken where a cached calibration measured it faster, not where slower or failed', () => {
  const faster = decideAuto({ ...onGpu, adapter: { info: H100 }, calibration: cal(10, 40) });
  assert.equal(faster.backend, 'webgpu');
  assert.match(faster.reason!, /calibrated 10 ms\/step vs wasm 40 ms/);
  const slower = decideAuto({ ...onGpu, adapter: { info: H100 }, calibration: cal(45, 40) });
  assert.equal(slower.backend, 'cpu');
  assert.match(slower.reason!, /faster than webgpu: 40 ms\/step vs 45 ms/);
  // Within the margin (a few steps are noisy): the CPU path stays.
  assert.equal(decideAuto({ ...onGpu, adapter: { info: H100 }, calibration: cal(38, 40) }).backend, 'cpu');
  assert.equal(decideAuto({ ...onGpu, adapter: { info: H100 }, calibration: cal(undefined, 40) }).reason, 'webgpu failed its calibration');
});

test('the cheap facts decide first: no package, no GPU seen, nothing to train: no adapter is asked for', () => {
  assert.deepEqual(decideAuto({ gpuSeen: true, workload: MLP, webgpuMissing: 'webgpu' }), {
    backend: 'cpu',
    reason: 'webgpu not installed',
  });
  assert.deepEqual(decideAuto({ gpuSeen: false, workload: MLP }), { backend: 'cpu', reason: 'no GPU' });
  assert.equal(decideAuto({ gpuSeen: true }).backend, 'cpu');
  assert.deepEqual(decideAuto(onGpu), { need: 'adapter' });
  assert.equal(decideAuto({ ...onGpu, adapter: { error: 'no WebGPU adapter' } }).reason, 'no WebGPU adapter');
  assert.deepEqual(decideAuto({ ...onGpu, adapter: { info: H100 } }), { need: 'calibration' });
});

/** Fakes of Dawn and of the timing: what they were asked, and what they answer. */
function fakes(adapter: AdapterInfo | undefined, times: { webgpu: number; cpu: number }, dir = tmpDir()) {
  const asked = { probes: 0, measures: [] as string[] };
  const store = fileStore(dir, { host: 'test' });
  const deps: AutoDeps = {
    probeAdapter: async () => {
      asked.probes++;
      return adapter ? { info: adapter } : { error: 'no WebGPU adapter' };
    },
    measure: async (candidate, w) => {
      asked.measures.push(`${candidate} ${workloadKey(w)}`);
      if (Number.isNaN(times[candidate])) throw new Error(`${candidate} broke`);
      return times[candidate];
    },
    store: () => store,
  };
  return { asked, deps, store };
}

test('no cache: the adapter is asked, both candidates are measured once, and the next choice reads the cache', async () => {
  const { asked, deps, store } = fakes(H100, { webgpu: 8, cpu: 40 });
  const first = await chooseAuto(onGpu, deps);
  assert.equal(first.backend, 'webgpu');
  assert.equal(asked.probes, 1);
  assert.deepEqual(asked.measures, [`cpu ${workloadKey(MLP)}`, `webgpu ${workloadKey(MLP)}`]);
  assert.equal(store.calibration(MLP)?.webgpuMs, 8);
  const again = await chooseAuto(onGpu, deps);
  assert.equal(again.backend, 'webgpu');
  assert.equal(asked.probes, 1, 'the adapter verdict is cached');
  assert.equal(asked.measures.length, 2, 'the calibration is cached');
  // Another width is another calibration.
  const wider = { ...MLP, generatorHidden: [512, 1024, 2048] };
  await chooseAuto({ ...onGpu, workload: wider }, deps);
  assert.equal(asked.measures.length, 4);
  // Another batch size too.
  await chooseAuto({ ...onGpu, workload: { ...MLP, batchSize: 256 } }, deps);
  assert.equal(asked.measures.length, 6);
});

test('a failed measurement is recorded, keeps wasm, and is not retried on every run', async () => {
  const { asked, deps, store } = fakes(H100, { webgpu: NaN, cpu: 40 });
  const r = await chooseAuto(onGpu, deps);
  assert.equal(r.backend, 'cpu');
  assert.match(store.calibration(MLP)!.error!, /webgpu: webgpu broke/);
  await chooseAuto(onGpu, deps);
  assert.equal(asked.measures.length, 2);
});

test('no GPU seen, or a software adapter: nothing is measured, and without a GPU not even the cache is read', async () => {
  const none = fakes(H100, { webgpu: 1, cpu: 40 });
  let opened = 0;
  const r = await chooseAuto({ gpuSeen: false, workload: MLP }, { ...none.deps, store: () => (opened++, none.store) });
  assert.deepEqual([r.backend, r.reason, none.asked.probes, opened], ['cpu', 'no GPU', 0, 0]);
  const soft = fakes(SWIFTSHADER, { webgpu: 1, cpu: 40 });
  const s = await chooseAuto(onGpu, soft.deps);
  assert.equal(s.backend, 'cpu');
  assert.deepEqual(soft.asked.measures, []);
});

test('corrupt or unreadable cache files count as absent: the calibration runs again, and the file is rewritten whole', async () => {
  const dir = tmpDir();
  const { asked, deps, store } = fakes(H100, { webgpu: 8, cpu: 40 }, dir);
  for (const bad of ['', '{', 'null', '[]', '{"version":2,"calibrations":{}}', '{"version":1,"calibrations":{"x":{"webgpuMs":-1}}}']) {
    fs.writeFileSync(store.file, bad);
    assert.equal(store.calibration(MLP), undefined, bad);
    const r = await chooseAuto(onGpu, deps);
    assert.equal(r.backend, 'webgpu', bad);
    assert.equal(readCacheFile(store.file)?.calibrations[workloadKey(MLP)]?.cpuMs, 40, bad);
  }
  assert.equal(asked.measures.length, 12);
  // A valid file with one bad entry: that entry is absent, the others stand.
  const file = readCacheFile(store.file)!;
  fs.writeFileSync(store.file, JSON.stringify({ ...file, calibrations: { ...file.calibrations, other: { webgpuMs: 'fast' } } }));
  assert.equal(store.calibration(MLP)?.webgpuMs, 8);
  // Unreadable (a folder where the file should be) and unwritable: no crash, the choice stands.
  fs.rmSync(store.file);
  fs.mkdirSync(store.file);
  const r = await chooseAuto(onGpu, deps);
  assert.equal(r.backend, 'webgpu');
  // No temporary files are left behind.
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
  );
});

test('the cache is kept per machine: another identity is another file', () => {
  const dir = tmpDir();
  const a = fileStore(dir, { host: 'a' });
  const b = fileStore(dir, { host: 'b' });
  a.saveCalibration(MLP, cal(8, 40));
  assert.notEqual(a.file, b.file);
  assert.equal(b.calibration(MLP), undefined);
  assert.equal(path.dirname(a.file), dir);
});

test('the workload of a run: architecture, width and batch size; the cache keys differ by each', () => {
  const mlp = workloadOf(resolveTrainConfig({ seed: 0 }));
  assert.deepEqual(mlp, MLP);
  const dcgan = workloadOf(resolveTrainConfig({ seed: 0, arch: 'dcgan', channels: 8 }));
  assert.deepEqual(dcgan, { arch: 'dcgan', channels: 8, conditional: false, batchSize: 64 });
  const keys = new Set(
    [MLP, dcgan, { ...dcgan, channels: 16 }, { ...dcgan, batchSize: 128 }, { ...dcgan, conditional: true }].map(workloadKey),
  );
  assert.equal(keys.size, 5);
});

test('GPUs are seen on the PCI bus, not BMC or virtual displays', () => {
  if (process.platform !== 'linux') return;
  const root = tmpDir();
  const dev = (name: string, cls: string, vendor: string, device: string) => {
    fs.mkdirSync(path.join(root, name));
    for (const [f, v] of Object.entries({ class: cls, vendor, device })) fs.writeFileSync(path.join(root, name, f), `${v}\n`);
  };
  dev('0000:00:02.0', '0x030000', '0x1a03', '0x2000'); // ASPEED BMC VGA
  dev('0000:00:03.0', '0x030000', '0x1af4', '0x1050'); // virtio-gpu
  assert.deepEqual(pciComputeGpus(root), []);
  dev('0000:1b:00.0', '0x030200', '0x10de', '0x2330'); // an H100
  assert.deepEqual(pciComputeGpus(root), ['10de:2330']);
  assert.equal(gpuSeen(root), true);
});

test('the first line fits in 100 columns: the tail goes first, then the head is cut', () => {
  const head = 'backend: wasm (CPU, 2 threads, native kernels): faster than webgpu: 40 ms/step vs 45 ms';
  assert.equal(fitNotice(head, '; for a GPU see: npx gan doctor'), head);
  assert.equal(fitNotice('x'.repeat(150)).length, NOTICE_COLUMNS);
  assert.equal(fitNotice('short', '; tail'), 'short; tail');
  // A long doctor command (npx --prefix PATH gan doctor) keeps the shorter tail where it fits.
  const wasm = 'backend: wasm (CPU, 2 threads, native kernels): no GPU';
  const doctor = 'npx --prefix /home/me/gan gan doctor';
  assert.equal(fitNotice(wasm, `; for a GPU see: ${doctor}`, `; see ${doctor}`), `${wasm}; see ${doctor}`);
});
