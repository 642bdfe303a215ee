/**
 * `gan doctor`: what this machine can run, and for each piece that is missing, why and the fix.
 *
 * It never fails on a missing piece: every check catches its own errors and reports them. Each
 * check is bounded in time: backends load in child processes with a time limit (src/backends/probe.ts;
 * tfjs allows one backend family per process, and a broken driver can hang or crash), and
 * commands (npm, ldconfig, nvidia-smi) run with a timeout. This module gathers; the command
 * (src/commands/doctor.ts) prints.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TFJS_VERSION, WEBGPU_INSTALL, type BackendName } from './index';
import { ADDON_PATH, PACKAGE_ROOT } from '../util/paths';
import { WEBGPU_UPLOAD_FIX_VERSION } from './webgpu/upload';
import type { AddonProbe, BackendProbe } from './probe';
import { runProbe } from './probe-runner';

/** The order of `gan doctor`'s backend table: the GPU paths first, as `auto` tries them. */
export const DOCTOR_BACKENDS: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];
/** The order in which `auto` takes backends (webgpu only by name: not yet measured faster). */
const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Libraries libtensorflow 2.9.1 (tfjs-node-gpu 4.22) opens at run time: CUDA 11.2 and cuDNN 8.1. */
export const CUDA_LIBRARIES = ['libcudart.so.11.0', 'libcublas.so.11', 'libcublasLt.so.11', 'libcufft.so.10', 'libcurand.so.10', 'libcusolver.so.11', 'libcusparse.so.11'];
export const CUDNN_LIBRARIES = ['libcudnn.so.8'];

const GPU_PKG = '@tensorflow/tfjs-node-gpu';
const GPU_INSTALL = `npm install ${GPU_PKG}@${TFJS_VERSION}`;

export interface Finding {
  ok: boolean;
  /** What was found (a version, a path), or what is missing. */
  detail: string;
  /** The fix, when not ok. */
  fix?: string;
}

export interface LibraryFinding {
  name: string;
  found: boolean;
  /** Where the loader finds it. */
  path?: string;
}

export interface BackendFinding {
  name: BackendName;
  ok: boolean;
  /** The backend's first line, when it loads. */
  notice?: string;
  /** A small op ran and read back the right values. */
  computes?: boolean;
  error?: string;
  fix?: string;
  ms: number;
}

export interface DoctorReport {
  gan: { version: string; folder: string };
  node: Finding & { version: string; platform: string; arch: string; execPath: string };
  npm: Finding & { version?: string };
  /** Display and 3D controllers on the PCI bus (Linux), whatever their drivers. */
  gpus: Finding & { devices: Array<{ vendor: string; pciId: string }> };
  cpu: { model: string; threads: number; logicalCpus: number; features?: { avx2: boolean; avx512f: boolean; fma: boolean }; featuresSource: string };
  nativeAddon: Finding & { built: boolean; loads: boolean; path: string; kernel?: string; threads?: number };
  backends: BackendFinding[];
  /** What `gan train` takes with --backend auto here. */
  autoPicks?: BackendName;
  tensorflowGpu: {
    package: Finding & { version?: string; folder?: string };
    libtensorflow: Finding & { path?: string };
    binding: Finding & { path?: string };
    cuda: Finding & { libraries: LibraryFinding[] };
    cudnn: Finding & { libraries: LibraryFinding[] };
    driver: Finding & { version?: string };
    nvidiaSmi: Finding & { gpus?: string[] };
  };
  webgpu: {
    packages: Finding & { versions: Record<string, string | null> };
    dawnNode: Finding & { path?: string };
    /** Linux: Dawn runs on Vulkan through libvulkan.so.1 and a driver's ICD file. */
    vulkanLoader?: Finding & { path?: string };
    vulkanDrivers?: Finding & { icdFiles: string[]; env: Record<string, string> };
    adapter: Finding & { info?: Record<string, string | number | boolean> };
    uploadFix: Finding;
  };
  /** Every missing piece with its fix, in the order above. */
  missing: Array<{ what: string; detail: string; fix: string }>;
  ms: number;
}

export interface DoctorOptions {
  /** Time limit of each backend check, in ms (default 60 s). */
  backendTimeoutMs?: number;
  /** Time limit of each command run (npm, ldconfig, nvidia-smi), in ms (default 15 s). */
  commandTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface CommandResult {
  ok: boolean;
  stdout: string;
  error?: string;
}

/** Runs a command with a time limit; never throws. */
export function runCommand(file: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (r: CommandResult) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve(r);
      }
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
    } catch (e) {
      resolve({ ok: false, stdout: '', error: (e as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, stdout, error: `no answer within ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, stdout, error: e.code === 'ENOENT' ? 'not found' : e.message }));
    child.on('close', (code) => finish(code === 0 ? { ok: true, stdout } : { ok: false, stdout, error: (stderr.trim().split('\n').pop() || `exit code ${code}`).trim() }));
  });
}

/** Runs `fn`, turning a throw into `fallback(message)`: no single check can fail the report. */
async function safely<T>(fn: () => Promise<T> | T, fallback: (message: string) => T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return fallback((e as Error).message.split('\n')[0]);
  }
}

function packageFolder(): string {
  return PACKAGE_ROOT;
}

/** A package's folder and version, or undefined when it is not installed. */
function installedPackage(name: string): { folder: string; version: string } | undefined {
  try {
    const file = require.resolve(`${name}/package.json`);
    return { folder: path.dirname(file), version: (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version };
  } catch {
    return undefined;
  }
}

/** CPU model and the SIMD features that matter to the native addon, from /proc/cpuinfo (Linux). */
export function cpuInfo(cpuinfo?: string): DoctorReport['cpu'] {
  const cpus = os.cpus();
  const info: DoctorReport['cpu'] = { model: cpus[0]?.model?.trim() || 'unknown', threads: os.availableParallelism(), logicalCpus: cpus.length, featuresSource: 'unknown on this system (no /proc/cpuinfo)' };
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return info;
    }
  }
  const flagsLine = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  if (!flagsLine) return info;
  const flags = new Set(flagsLine.split(':')[1].trim().split(/\s+/));
  info.features = { avx2: flags.has('avx2'), avx512f: flags.has('avx512f'), fma: flags.has('fma') };
  info.featuresSource = '/proc/cpuinfo';
  return info;
}

const PCI_VENDORS: Record<string, string> = { '0x10de': 'NVIDIA', '0x1002': 'AMD', '0x8086': 'Intel', '0x1af4': 'virtio', '0x1234': 'QEMU' };

/** GPUs as the PCI bus lists them (class 0x03xxxx: VGA, XGA, 3D controllers); Linux only. */
export function pciGpus(root = '/sys/bus/pci/devices'): DoctorReport['gpus'] {
  if (process.platform !== 'linux') return { ok: true, detail: `not listed on ${process.platform} (the webgpu adapter below names the GPU)`, devices: [] };
  const devices: DoctorReport['gpus']['devices'] = [];
  try {
    for (const d of fs.readdirSync(root)) {
      const read = (f: string) => fs.readFileSync(path.join(root, d, f), 'utf8').trim();
      if (!read('class').startsWith('0x03')) continue;
      const vendorId = read('vendor');
      devices.push({ vendor: PCI_VENDORS[vendorId] ?? vendorId, pciId: `${vendorId.slice(2)}:${read('device').slice(2)}` });
    }
  } catch {
    return { ok: false, detail: `cannot list PCI devices (${root})`, devices };
  }
  if (!devices.length) return { ok: false, detail: 'no GPU on the PCI bus: the GPU backends cannot run here', devices };
  return { ok: true, detail: devices.map((g) => `${g.vendor} [${g.pciId}]`).join(', '), devices };
}

async function nodeAndNpm(timeoutMs: number, env: NodeJS.ProcessEnv): Promise<Pick<DoctorReport, 'node' | 'npm'>> {
  const major = Number(process.versions.node.split('.')[0]);
  const node: DoctorReport['node'] = {
    ok: major >= 20,
    detail: `${process.version} (${process.platform} ${process.arch})`,
    version: process.version,
    platform: process.platform,
    arch: process.arch,
    execPath: process.execPath,
  };
  if (!node.ok) node.fix = 'install Node.js 20 or newer (https://nodejs.org)';
  // Under npm (npx gan, npm run), npm says where its own CLI is; otherwise ask the one on PATH.
  const npmCli = env.npm_execpath && /npm-cli\.js$/.test(env.npm_execpath) ? env.npm_execpath : undefined;
  const r = npmCli ? await runCommand(process.execPath, [npmCli, '--version'], timeoutMs) : await runCommand('npm', ['--version'], timeoutMs);
  const version = r.stdout.trim().split('\n').pop();
  const npm: DoctorReport['npm'] = r.ok && version ? { ok: true, detail: version, version } : { ok: false, detail: `npm ${r.error ?? 'did not answer'}`, fix: 'install npm (it comes with Node.js); gan installs with npm ci' };
  return { node, npm };
}

async function nativeAddon(timeoutMs: number): Promise<DoctorReport['nativeAddon']> {
  const built = fs.existsSync(ADDON_PATH);
  const build = `node ${path.join(packageFolder(), 'src', 'native', 'build.js')}`;
  if (!built) {
    const tools = await Promise.all(['c++', 'make', 'python3'].map(async (t) => ((await runCommand(t, ['--version'], timeoutMs)).ok ? undefined : t)));
    const lacking = tools.filter((t): t is string => !!t);
    const fix = lacking.length ? `install ${lacking.join(', ')} (Debian/Ubuntu: apt-get install -y g++ make python3), then: ${build}` : `build it: ${build} (it prints why when it cannot)`;
    return { ok: false, built, loads: false, path: ADDON_PATH, detail: `not built${lacking.length ? ` (no ${lacking.join(', ')} on PATH)` : ''}; training uses the slower wasm kernels`, fix };
  }
  const outcome = await runProbe<AddonProbe>(['addon'], timeoutMs);
  const r = outcome.result;
  if (r?.loads) return { ok: true, built, loads: true, path: ADDON_PATH, kernel: r.kernel, threads: r.threads, detail: `built and loads (${r.kernel}, ${r.threads} threads)` };
  const why = r?.error ?? outcome.error ?? 'unknown';
  const fix = /GAN_NATIVE=0/.test(why) ? 'unset GAN_NATIVE' : `rebuild it for this Node and CPU: ${build}`;
  return { ok: false, built, loads: false, path: ADDON_PATH, detail: `built but does not load: ${why}`, fix };
}

/** The fix for a backend that does not load, from what its error says. */
function backendFix(name: BackendName, error: string): string {
  switch (name) {
    case 'tensorflow-gpu':
      return 'see the tensorflow-gpu section';
    case 'tensorflow':
      return /not installed/.test(error) ? `npm install @tensorflow/tfjs-node@${TFJS_VERSION} (its install downloads libtensorflow)` : `npm rebuild @tensorflow/tfjs-node (newer npm: npm install-scripts approve @tensorflow/tfjs-node first)`;
    case 'webgpu':
      return 'see the webgpu section';
    default:
      return 'reinstall: npm ci';
  }
}

/** Stderr lines that explain a failure (native libraries print their reasons there), shortened. */
function explainingLines(lines: string[]): string[] {
  return lines.filter((l) => /warning|error|cannot|failed|could not|couldn't|not found/i.test(l)).slice(-2).map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l));
}

async function backendFinding(name: BackendName, timeoutMs: number): Promise<BackendFinding & { adapter?: Record<string, string | number | boolean> }> {
  const outcome = await runProbe<BackendProbe>(['backend', name], timeoutMs);
  const r = outcome.result;
  if (r?.ok && r.computes !== false) return { name, ok: true, notice: r.notice, computes: r.computes, adapter: r.adapter, ms: outcome.ms };
  let error = r?.error ?? outcome.error ?? 'unknown';
  if (r?.ok) error = 'it loads, but a small op gave wrong values';
  // The backend's own message ends with the generic pointer to gan doctor: we are there.
  error = error.replace(/\.\s*(Install it with:[^]*|Reinstall with npm ci;\s*)?gan doctor shows[^]*$/, '').replace(/^backend \S+ is not available \(([^]*)\)$/, '$1');
  const notes = explainingLines(outcome.stderrLines).map((l) => l.replace(/^Warning:\s*/, '')).filter((l) => !error.includes(l));
  if (notes.length) error += name === 'webgpu' ? ` (Dawn: ${notes.join('; ')})` : ` [stderr: ${notes.join('; ')}]`;
  return { name, ok: false, error, fix: backendFix(name, error), ms: outcome.ms };
}

/** Where the dynamic loader finds each library: `ldconfig -p`, then LD_LIBRARY_PATH's folders. */
export async function findLibraries(names: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<LibraryFinding[]> {
  const known = new Map<string, string>();
  if (process.platform === 'linux') {
    for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
      const r = await runCommand(ldconfig, ['-p'], timeoutMs);
      if (!r.ok) continue;
      // "	libcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0"
      for (const line of r.stdout.split('\n')) {
        const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
        if (m && !known.has(m[1]) && (process.arch !== 'x64' || m[2].includes('x86-64'))) known.set(m[1], m[3]);
      }
      break;
    }
  }
  const dirs = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return names.map((name) => {
    for (const dir of dirs) {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) return { name, found: true, path: p };
    }
    const p = known.get(name);
    return p ? { name, found: true, path: p } : { name, found: false };
  });
}

function libraryFinding(libs: LibraryFinding[], what: string, fix: string): Finding & { libraries: LibraryFinding[] } {
  const missing = libs.filter((l) => !l.found).map((l) => l.name);
  if (!missing.length) return { ok: true, detail: `${what}: all found (${libs.map((l) => l.path).join(', ')})`, libraries: libs };
  return { ok: false, detail: `${what}: not found by the loader: ${missing.join(', ')}`, fix, libraries: libs };
}

async function tensorflowGpu(timeoutMs: number, env: NodeJS.ProcessEnv): Promise<DoctorReport['tensorflowGpu']> {
  const pkg = installedPackage(GPU_PKG);
  const rebuild = `npm rebuild ${GPU_PKG} (it downloads libtensorflow 2.9.1; newer npm: npm install-scripts approve ${GPU_PKG} first; an unreachable download host: set TFJS_NODE_CDN_STORAGE to a mirror)`;
  const packageF: DoctorReport['tensorflowGpu']['package'] = pkg
    ? { ok: true, detail: `${GPU_PKG} ${pkg.version} in ${pkg.folder}`, version: pkg.version, folder: pkg.folder }
    : { ok: false, detail: `${GPU_PKG} is not installed (its install needs to download libtensorflow; when that fails npm drops it)`, fix: `${GPU_INSTALL} (an unreachable download host: set TFJS_NODE_CDN_STORAGE to a mirror of the libtensorflow archives)` };
  const libName = process.platform === 'win32' ? 'tensorflow.dll' : process.platform === 'darwin' ? 'libtensorflow.2.dylib' : 'libtensorflow.so.2';
  const libPath = pkg ? path.join(pkg.folder, 'deps', 'lib', libName) : undefined;
  const libtensorflow: DoctorReport['tensorflowGpu']['libtensorflow'] = !pkg
    ? { ok: false, detail: 'absent (the package is not installed)', fix: packageF.fix }
    : fs.existsSync(libPath!)
      ? { ok: true, detail: libPath!, path: libPath }
      : { ok: false, detail: `not in ${path.dirname(libPath!)}: the install script did not download it`, fix: rebuild, path: libPath };
  let bindingPath: string | undefined;
  if (pkg) {
    const libDir = path.join(pkg.folder, 'lib');
    try {
      for (const d of fs.readdirSync(libDir)) {
        const p = path.join(libDir, d, 'tfjs_binding.node');
        if (fs.existsSync(p)) bindingPath = p;
      }
    } catch {
      // no lib folder: reported below
    }
  }
  const binding: DoctorReport['tensorflowGpu']['binding'] = !pkg
    ? { ok: false, detail: 'absent (the package is not installed)', fix: packageF.fix }
    : bindingPath
      ? { ok: true, detail: bindingPath, path: bindingPath }
      : { ok: false, detail: `no tfjs_binding.node under ${path.join(pkg.folder, 'lib')}: the install script did not run or failed`, fix: rebuild };

  const linux = process.platform === 'linux';
  const libs = linux ? await findLibraries([...CUDA_LIBRARIES, ...CUDNN_LIBRARIES], timeoutMs, env) : [];
  const cuda = linux
    ? libraryFinding(libs.filter((l) => CUDA_LIBRARIES.includes(l.name)), 'CUDA 11.2 libraries', 'install the CUDA 11 runtime libraries (CUDA 11.2 or a later 11.x: cudart, cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE) and make them visible to the loader (ldconfig, or LD_LIBRARY_PATH); CUDA 12 or 13 libraries do not satisfy libtensorflow 2.9')
    : { ok: false, detail: `tfjs-node-gpu has no CUDA build for ${process.platform}`, fix: 'use Linux (or Windows) with an NVIDIA GPU, or --backend webgpu', libraries: [] };
  const cudnn = linux
    ? libraryFinding(libs.filter((l) => CUDNN_LIBRARIES.includes(l.name)), 'cuDNN 8.1 library', 'install cuDNN 8 for CUDA 11 (libcudnn.so.8, 8.1 or later 8.x) and make it visible to the loader (ldconfig, or LD_LIBRARY_PATH)')
    : { ok: false, detail: `not applicable on ${process.platform}`, fix: 'use Linux (or Windows) with an NVIDIA GPU, or --backend webgpu', libraries: [] };

  let driver: DoctorReport['tensorflowGpu']['driver'];
  try {
    const text = fs.readFileSync('/proc/driver/nvidia/version', 'utf8');
    const m = /Kernel Module\s+(?:for\s+\S+\s+)?([0-9][0-9.]*)/.exec(text) ?? /([0-9]{3,}\.[0-9.]+)/.exec(text);
    driver = { ok: true, detail: m ? `NVIDIA driver ${m[1]}` : text.split('\n')[0].trim(), version: m?.[1] };
  } catch {
    driver = { ok: false, detail: 'no NVIDIA driver loaded (/proc/driver/nvidia/version is absent)', fix: 'on a machine with an NVIDIA GPU, install the NVIDIA driver (450.80 or newer for CUDA 11)' };
  }
  const smi = await runCommand('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], timeoutMs);
  const nvidiaSmi: DoctorReport['tensorflowGpu']['nvidiaSmi'] = smi.ok
    ? { ok: true, detail: smi.stdout.trim().split('\n').join('; '), gpus: smi.stdout.trim().split('\n') }
    : { ok: false, detail: `nvidia-smi ${smi.error === 'not found' ? 'is not on PATH' : `failed: ${smi.error}`}`, fix: smi.error === 'not found' ? 'it comes with the NVIDIA driver; install the driver' : 'check the NVIDIA driver installation (nvidia-smi should list the GPU)' };
  return { package: packageF, libtensorflow, binding, cuda, cudnn, driver, nvidiaSmi };
}

/** Vulkan drivers' ICD manifests in the loader's default folders, and the variables that override them. */
function vulkanIcds(env: NodeJS.ProcessEnv): { icdFiles: string[]; env: Record<string, string> } {
  const dirs = ['/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/etc/vulkan/icd.d', path.join(os.homedir(), '.local/share/vulkan/icd.d')];
  const icdFiles: string[] = [];
  for (const dir of dirs) {
    try {
      for (const f of fs.readdirSync(dir)) if (f.endsWith('.json')) icdFiles.push(path.join(dir, f));
    } catch {
      // folder absent
    }
  }
  const vars: Record<string, string> = {};
  for (const k of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'VK_ADD_DRIVER_FILES']) if (env[k]) vars[k] = env[k]!;
  return { icdFiles, env: vars };
}

async function webgpuSection(timeoutMs: number, env: NodeJS.ProcessEnv, webgpuBackend: BackendFinding & { adapter?: Record<string, string | number | boolean> }): Promise<DoctorReport['webgpu']> {
  const versions: Record<string, string | null> = {};
  const tfjsWebgpu = installedPackage('@tensorflow/tfjs-backend-webgpu');
  const dawn = installedPackage('webgpu');
  versions['@tensorflow/tfjs-backend-webgpu'] = tfjsWebgpu?.version ?? null;
  versions.webgpu = dawn?.version ?? null;
  const packages: DoctorReport['webgpu']['packages'] =
    tfjsWebgpu && dawn
      ? { ok: true, detail: `@tensorflow/tfjs-backend-webgpu ${tfjsWebgpu.version}, webgpu ${dawn.version}`, versions }
      : { ok: false, detail: `not installed: ${[tfjsWebgpu ? '' : '@tensorflow/tfjs-backend-webgpu', dawn ? '' : 'webgpu'].filter(Boolean).join(', ')} (optional dependencies; npm ci installs them where it can)`, fix: WEBGPU_INSTALL, versions };
  const platformDir = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
  const dawnPath = dawn ? path.join(dawn.folder, 'dist', platformDir, 'dawn.node') : undefined;
  const dawnNode: DoctorReport['webgpu']['dawnNode'] = !dawn
    ? { ok: false, detail: 'absent (the webgpu package is not installed)', fix: WEBGPU_INSTALL }
    : fs.existsSync(dawnPath!)
      ? { ok: true, detail: dawnPath!, path: dawnPath }
      : { ok: false, detail: `webgpu ${dawn.version} ships no dawn.node for ${platformDir}`, fix: 'WebGPU in Node runs on linux-x64, linux-arm64, darwin, win32-x64 and win32-arm64; use the CPU path (wasm) here', path: dawnPath };

  let vulkanLoader: DoctorReport['webgpu']['vulkanLoader'];
  let vulkanDrivers: DoctorReport['webgpu']['vulkanDrivers'];
  if (process.platform === 'linux') {
    const [loader] = await findLibraries(['libvulkan.so.1'], timeoutMs, env);
    vulkanLoader = loader.found
      ? { ok: true, detail: `libvulkan.so.1 at ${loader.path}`, path: loader.path }
      : { ok: false, detail: 'libvulkan.so.1 (the Vulkan loader) is not found by the loader; Dawn runs on Vulkan on Linux', fix: 'install the Vulkan loader (Debian/Ubuntu: apt-get install -y libvulkan1; without root: unpack it with dpkg -x and add its lib folder to LD_LIBRARY_PATH)' };
    const icds = vulkanIcds(env);
    const listed = [...icds.icdFiles, ...Object.entries(icds.env).map(([k, v]) => `${k}=${v}`)];
    vulkanDrivers = listed.length
      ? { ok: true, detail: listed.join(', '), ...icds }
      : { ok: false, detail: 'no Vulkan driver manifest (ICD file) in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d, ... and no VK_DRIVER_FILES', fix: "install your GPU's Vulkan driver (NVIDIA: the driver's nvidia_icd.json, often under /usr/share/vulkan/icd.d or /etc/vulkan/icd.d; in containers it may sit elsewhere, e.g. /usr/local/nvidia/share/vulkan/icd.d: point VK_DRIVER_FILES at it)", ...icds };
  }

  let adapter: DoctorReport['webgpu']['adapter'];
  if (webgpuBackend.ok) {
    const info = webgpuBackend.adapter ?? {};
    const named = ['vendor', 'architecture', 'device', 'description'].map((k) => info[k]).filter((v) => v !== undefined && v !== '').join(' ');
    adapter = { ok: true, detail: named || 'an adapter (no info)', info };
  } else {
    const error = webgpuBackend.error ?? 'unknown';
    let fix: string;
    if (/not installed/.test(error)) fix = WEBGPU_INSTALL;
    else if (vulkanLoader && !vulkanLoader.ok) fix = vulkanLoader.fix!;
    else if (vulkanDrivers && !vulkanDrivers.ok) fix = vulkanDrivers.fix!;
    else fix = 'WebGPU needs a GPU and its driver: Vulkan on Linux, Metal on macOS, D3D12 on Windows. Without a GPU, train on the CPU (--backend wasm, the default)';
    adapter = { ok: false, detail: `none: ${error}`, fix };
  }

  const fixOff = env.GAN_WEBGPU_UPLOAD_FIX === '0';
  const uploadFix: Finding = !tfjsWebgpu
    ? { ok: false, detail: 'n/a (tfjs-backend-webgpu is not installed)', fix: WEBGPU_INSTALL }
    : fixOff
      ? { ok: true, detail: 'switched off by GAN_WEBGPU_UPLOAD_FIX=0 (tfjs uploads each CPU tensor through a buffer mapped at creation)' }
      : tfjsWebgpu.version === WEBGPU_UPLOAD_FIX_VERSION
        ? { ok: true, detail: `applies to tfjs-backend-webgpu ${tfjsWebgpu.version} (uploads by queue.writeBuffer into pooled buffers)` }
        : { ok: false, detail: `not applied: written for ${WEBGPU_UPLOAD_FIX_VERSION}, installed ${tfjsWebgpu.version}; each CPU-made tensor then costs about 1 ms to upload`, fix: `npm install @tensorflow/tfjs-backend-webgpu@${WEBGPU_UPLOAD_FIX_VERSION}` };
  return { packages, dawnNode, vulkanLoader, vulkanDrivers, adapter, uploadFix };
}

/** Every not-ok finding, with its fix, for the summary at the end. */
function collectMissing(r: Omit<DoctorReport, 'missing' | 'ms'>): DoctorReport['missing'] {
  const out: DoctorReport['missing'] = [];
  // One line per fix: several findings often share one cause (no Vulkan loader: no adapter).
  const add = (what: string, f: Finding | undefined) => {
    if (f && !f.ok && f.fix && !out.some((m) => m.fix === f.fix)) out.push({ what, detail: f.detail, fix: f.fix });
  };
  add('node', r.node);
  add('npm', r.npm);
  add('native addon', r.nativeAddon);
  for (const b of r.backends) if (!/^see the/.test(b.fix ?? '')) add(`backend ${b.name}`, { ok: b.ok, detail: b.error ?? 'does not load', fix: b.fix });
  const g = r.tensorflowGpu;
  add('tfjs-node-gpu package', g.package);
  if (g.package.ok) {
    add('libtensorflow', g.libtensorflow);
    add('tfjs-node-gpu binding', g.binding);
  }
  add('CUDA 11.2', g.cuda);
  add('cuDNN 8.1', g.cudnn);
  add('NVIDIA driver', g.driver);
  if (g.driver.ok) add('nvidia-smi', g.nvidiaSmi);
  const w = r.webgpu;
  add('webgpu packages', w.packages);
  if (w.packages.ok) add('dawn.node', w.dawnNode);
  add('Vulkan loader', w.vulkanLoader);
  add('Vulkan driver', w.vulkanDrivers);
  add('WebGPU adapter', w.adapter);
  if (w.packages.ok) add('WebGPU upload fix', w.uploadFix);
  return out;
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const started = Date.now();
  const env = opts.env ?? process.env;
  const backendMs = opts.backendTimeoutMs ?? 60_000;
  const commandMs = opts.commandTimeoutMs ?? 15_000;
  const failed = (detail: string): Finding => ({ ok: false, detail: `the check itself failed: ${detail}`, fix: 'report this as a bug of gan doctor' });

  // Backends load in parallel children: each is bounded by its own time limit.
  const backendsP = Promise.all(
    DOCTOR_BACKENDS.map((name) => safely(() => backendFinding(name, backendMs), (m): BackendFinding => ({ name, ok: false, error: `the check itself failed: ${m}`, fix: 'report this as a bug of gan doctor', ms: 0 }))),
  );
  const [{ node, npm }, nativeAddonF, tensorflowGpuF, backends] = await Promise.all([
    safely(() => nodeAndNpm(commandMs, env), (m) => ({ node: { ...failed(m), version: process.version, platform: process.platform, arch: process.arch, execPath: process.execPath }, npm: failed(m) })),
    safely(() => nativeAddon(commandMs), (m) => ({ ...failed(m), built: false, loads: false, path: ADDON_PATH })),
    safely(
      () => tensorflowGpu(commandMs, env),
      (m) => ({ package: failed(m), libtensorflow: failed(m), binding: failed(m), cuda: { ...failed(m), libraries: [] }, cudnn: { ...failed(m), libraries: [] }, driver: failed(m), nvidiaSmi: failed(m) }),
    ),
    backendsP,
  ]);
  const webgpuBackend = backends.find((b) => b.name === 'webgpu')!;
  const webgpu = await safely(
    () => webgpuSection(commandMs, env, webgpuBackend),
    (m) => ({ packages: { ...failed(m), versions: {} }, dawnNode: failed(m), adapter: failed(m), uploadFix: failed(m) }),
  );
  const gpus = await safely(() => pciGpus(), (m) => ({ ...failed(m), devices: [] }));
  const cpu = await safely(() => cpuInfo(), () => ({ model: 'unknown', threads: 1, logicalCpus: 1, featuresSource: 'the check failed' }));
  const autoPicks = AUTO_ORDER.find((name) => backends.find((b) => b.name === name)?.ok);
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(packageFolder(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // reported as unknown
  }
  // The adapter's info travels in the webgpu section; the table keeps one shape for every backend.
  const table: BackendFinding[] = backends.map(({ name, ok, notice, computes, error, fix, ms }) => ({ name, ok, notice, computes, error, fix, ms }));
  const partial = { gan: { version, folder: packageFolder() }, node, npm, gpus, cpu, nativeAddon: nativeAddonF, backends: table, autoPicks, tensorflowGpu: tensorflowGpuF, webgpu };
  return { ...partial, missing: collectMissing(partial), ms: Date.now() - started };
}
