/** gan doctor: it runs, exits 0, reports every section, and names missing pieces with their fix. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';
import { CUDA_LIBRARIES, cpuInfo, findLibraries, pciGpus, runCommand, type DoctorReport } from '../src/backends/doctor';
import { formatDoctor } from '../src/commands/doctor';
import { SWIFTSHADER_ICD, driverFinding } from '../src/backends/doctor/webgpu';
import { runProbe } from '../src/backends/probe-runner';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

test('gan doctor --json: exit 0, every section, each backend checked, missing pieces with their fix', () => {
  const r = spawnSync(process.execPath, [BIN, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, DEBUG: '' } });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  for (const key of ['gan', 'node', 'npm', 'gpus', 'cpu', 'nativeAddon', 'backends', 'tensorflowGpu', 'webgpu', 'missing'] as const)
    assert.ok(report[key] !== undefined, key);
  assert.equal(report.node.version, process.version);
  assert.ok(report.cpu.threads >= 1);
  if (fs.existsSync('/proc/cpuinfo')) assert.equal(typeof report.cpu.features?.avx2, 'boolean');
  assert.deepEqual(
    report.backends.map((b) => b.name),
    ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'],
  );
  for (const b of report.backends)
    assert.ok(b.ok ? b.notice : b.error && b.fix, `${b.name}: a notice when it loads, else an error and a fix`);
  // The embedded backends load and compute on every machine.
  const wasm = report.backends.find((b) => b.name === 'wasm')!;
  assert.ok(wasm.ok && wasm.computes, JSON.stringify(wasm));
  assert.ok(report.autoPicks);
  for (const k of ['package', 'libtensorflow', 'binding', 'cuda', 'cudnn', 'driver', 'nvidiaSmi'] as const)
    assert.equal(typeof report.tensorflowGpu[k].ok, 'boolean', k);
  for (const k of ['packages', 'dawnNode', 'adapter', 'uploadFix'] as const) assert.equal(typeof report.webgpu[k].ok, 'boolean', k);
  for (const m of report.missing) assert.ok(m.what && m.detail && m.fix, JSON.stringify(m));

  if (!installed('@tensorflow/tfjs-node-gpu')) {
    // As on our machines and CI: the package was dropped when its download failed.
    assert.equal(report.tensorflowGpu.package.ok, false);
    assert.match(report.tensorflowGpu.package.fix!, /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    assert.ok(report.missing.some((m) => /tfjs-node-gpu/.test(m.what) && /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/.test(m.fix)));
    assert.equal(report.backends[0].ok, false);
  } else {
    assert.equal(report.tensorflowGpu.package.ok, true);
  }
  const webgpu = report.backends.find((b) => b.name === 'webgpu')!;
  if (!webgpu.ok) {
    assert.equal(report.webgpu.adapter.ok, false);
    assert.ok(report.webgpu.adapter.fix);
  } else {
    assert.ok(report.webgpu.adapter.info);
  }

  // The text form says the same, one finding a line.
  const lines = formatDoctor(report);
  const text = lines.join('\n');
  for (const heading of ['system', 'native addon', 'backends (auto takes', 'tensorflow-gpu, optional (', 'webgpu, optional ('])
    assert.ok(text.includes(heading), heading);
  // The verdict first; what only a GPU path needs is optional, never MISSING.
  assert.match(lines[0], new RegExp(`^ready: trains on ${report.autoPicks}`));
  if (report.missing.every((m) => m.optional)) assert.doesNotMatch(text, /MISSING/);
  for (const m of report.missing) assert.ok(text.includes(m.fix), m.fix);
});

test('cpu features are read from /proc/cpuinfo flags', () => {
  const info = cpuInfo('processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 avx2 fma bmi2\n');
  assert.deepEqual(info.features, { avx2: true, avx512f: false, fma: true });
  assert.equal(cpuInfo('processor\t: 0\nflags\t\t: sse2 avx512f\n').features?.avx512f, true);
  assert.equal(cpuInfo('no flags here\n').features, undefined);
});

test('libraries are found in LD_LIBRARY_PATH folders, and reported missing otherwise', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'libcudart.so.11.0'), '');
  const found = await findLibraries(['libcudart.so.11.0', 'libgan-does-not-exist.so.1'], 5000, { LD_LIBRARY_PATH: `/nonexistent:${dir}` });
  assert.deepEqual(found[0], { name: 'libcudart.so.11.0', found: true, path: path.join(dir, 'libcudart.so.11.0') });
  assert.deepEqual(found[1], { name: 'libgan-does-not-exist.so.1', found: false });
  assert.ok(CUDA_LIBRARIES.includes('libcudart.so.11.0'));
});

test('GPUs are listed from the PCI bus by class and vendor', () => {
  if (process.platform !== 'linux') return;
  const root = tmpDir();
  const dev = (name: string, cls: string, vendor: string, device: string) => {
    fs.mkdirSync(path.join(root, name));
    for (const [f, v] of Object.entries({ class: cls, vendor, device })) fs.writeFileSync(path.join(root, name, f), `${v}\n`);
  };
  dev('0000:00:03.0', '0x020000', '0x1af4', '0x1041'); // a network card
  assert.equal(pciGpus(root).ok, false);
  dev('0000:1b:00.0', '0x030200', '0x10de', '0x2330'); // an H100 (3D controller)
  const g = pciGpus(root);
  assert.deepEqual(g.devices, [{ vendor: 'NVIDIA', pciId: '10de:2330' }]);
  assert.ok(g.ok);
});

test('checks are bounded in time: a command or a probe that hangs is cut off and reported', async () => {
  const hang = await runCommand(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], 300);
  assert.equal(hang.ok, false);
  assert.match(hang.error!, /no answer within/);
  const absent = await runCommand('gan-no-such-command', [], 5000);
  assert.equal(absent.error, 'not found');
  const unknown = await runProbe<{ error: string }>(['no-such-probe'], 30000);
  assert.match(unknown.result!.error, /unknown probe/);
});

test('gan doctor names the Vulkan driver in use: SwiftShader is software, fine for tests, not for speed', (t) => {
  if (process.platform !== 'linux') return t.skip('Vulkan drivers are checked on Linux only');
  if (!fs.existsSync(SWIFTSHADER_ICD)) return t.skip(`no SwiftShader here (${SWIFTSHADER_ICD}, Debian's chromium)`);
  const env: NodeJS.ProcessEnv = { ...process.env, DEBUG: '', VK_ICD_FILENAMES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: tmpDir('gan-xdg-') };
  delete env.VK_DRIVER_FILES;
  const r = spawnSync(process.execPath, [BIN, 'doctor', '--json'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  if (!report.webgpu.adapter.ok) return t.skip(`SwiftShader gives no adapter here: ${report.webgpu.adapter.detail}`);
  const driver = report.webgpu.driver!;
  assert.equal(driver.software, 'SwiftShader');
  assert.equal(driver.icd, SWIFTSHADER_ICD);
  assert.match(
    driver.detail,
    /SwiftShader.*ICD \/usr\/lib\/chromium\/vk_swiftshader_icd\.json \(VK_ICD_FILENAMES\): software \(SwiftShader\): fine for tests, not for speed/,
  );
  // The first line is still the CPU path's: a software adapter is never auto's choice.
  assert.match(formatDoctor(report)[0], /^ready: trains on wasm/);
  assert.match(formatDoctor(report).join('\n'), /driver in use +ok +.*fine for tests, not for speed/);
});

test('the driver line: a GPU, a software driver, and no adapter with the way to SwiftShader for testing', () => {
  const adapter = (info: Record<string, string | boolean>) => ({ ok: true, detail: `${info.vendor} ${info.device}`, info });
  const gpu = driverFinding(adapter({ vendor: 'nvidia', device: 'H100' }), { VK_DRIVER_FILES: '/etc/vulkan/icd.d/nvidia_icd.json' }, true);
  assert.deepEqual([gpu.ok, gpu.software, gpu.icd], [true, undefined, '/etc/vulkan/icd.d/nvidia_icd.json']);
  assert.match(gpu.detail, /nvidia H100, ICD \/etc\/vulkan\/icd\.d\/nvidia_icd\.json \(VK_DRIVER_FILES\): a GPU$/);
  const lvp = driverFinding(adapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15)' }), {}, true);
  assert.equal(lvp.software, 'llvmpipe');
  assert.match(lvp.detail, /default folders: software \(llvmpipe\): fine for tests, not for speed/);
  const none = driverFinding({ ok: false, detail: 'none: no WebGPU adapter' }, {}, true);
  assert.equal(none.ok, false);
  assert.match(none.fix!, /VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd\.json XDG_RUNTIME_DIR=\/tmp/);
  assert.doesNotMatch(none.fix!, /apt-get/);
  assert.match(driverFinding({ ok: false, detail: 'none' }, {}, false).fix!, /apt-get install chromium.*VK_ICD_FILENAMES=/);
});
