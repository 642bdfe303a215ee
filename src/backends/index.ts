/**
 * The one place that chooses and loads a tfjs backend. Everything else takes `tf` from here.
 *
 * Order for `auto`: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm (embedded, the default
 * on machines without the native addon), cpu (pure JS, slowest). The native packages are
 * optional: their install script downloads libtensorflow, which fails on many machines, and npm
 * then drops them; we must work without them.
 *
 * `webgpu` (tfjs-backend-webgpu on Dawn's Node binding, the `webgpu` package) runs on any GPU
 * with a Vulkan, Metal or D3D12 driver and installs from npm alone. `auto` takes it, before wasm,
 * only where the adapter is a real GPU and a short calibration measured it faster than the CPU
 * path for the workload being trained (src/backends/auto.ts decides, machine.ts measures and
 * caches); where no GPU is seen, Dawn is not loaded at all.
 *
 * Only one tfjs package family is loaded per process: tfjs-node(-gpu) re-exports the same
 * @tensorflow/tfjs we import, so requiring it just registers the `tensorflow` backend.
 */
import { BackendError, ConfigError } from '../util/errors';
import { MAX_WASM_THREADS, registerThreadedWasm } from './wasm/threads';
import { registerWasmKernels } from './wasm/register';
import { nativeGemmLoaded, nativeGemmStatus } from './native/addon';
import { ganCommand } from '../util/invocation';
import { registerNativeKernels } from './native/register';
import { registerWebGpuFixes, registerWebGpuKernels } from './webgpu/register';
import { configureWebGpuSubmits } from './webgpu/submit';
import type { UploadFixResult } from './webgpu/upload';
import { runProbe } from './probe-runner';
import { adapterName, chooseAuto, softwareAdapter, type Workload } from './auto';
import { fileStore, gpuSeen, measureInChild } from './machine';
import * as os from 'node:os';

import type { Tf } from './tf';
export type { Tf };

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** What actually runs: the choices without `auto`. */
export type BackendName = Exclude<BackendChoice, 'auto'>;

export const TFJS_VERSION = '4.22.0';
const GPU_INSTALL = `npm install @tensorflow/tfjs-node-gpu@${TFJS_VERSION} (needs CUDA 11.2 and cuDNN 8.1)`;
const NODE_INSTALL = `npm install @tensorflow/tfjs-node@${TFJS_VERSION}`;
/** The Dawn binding tfjs-backend-webgpu runs on; its dawn.node ships inside the npm package. */
export const WEBGPU_DAWN_VERSION = '0.6.2';
export const WEBGPU_INSTALL = `npm install @tensorflow/tfjs-backend-webgpu@${TFJS_VERSION} webgpu@${WEBGPU_DAWN_VERSION}`;
/** Where a backend that does not load sends the user. */
export const doctorHint = (): string => `see what this machine can run, and why not, with: ${ganCommand('doctor')}`;

export interface LoadedBackend {
  tf: Tf;
  name: BackendName;
  /** One short line for the user: what runs, and where to look for a faster one. */
  notice: string;
  /** What runs, in full (threads, native kernels, the adapter): gan doctor's line for it. */
  detail: string;
}

export function parseBackendChoice(value: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new ConfigError(`unknown backend '${value}'`, `--backend should be one of: ${BACKEND_CHOICES.join(', ')}`);
}

let loaded: LoadedBackend | undefined;

/** Tries to require a native tfjs-node package; returns the failure message instead of throwing. */
function tryRequireNative(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return /Cannot find module/.test(msg) && msg.includes(pkg) ? 'not installed' : msg;
  }
}

async function activate(tf: Tf, name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function loadNative(tf: Tf, name: 'tensorflow-gpu' | 'tensorflow'): Promise<string | undefined> {
  const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const failure = tryRequireNative(pkg);
  if (failure) return `${pkg}: ${failure}`;
  if (!(await activate(tf, 'tensorflow'))) return `${pkg} loaded but its backend did not initialise`;
  return undefined;
}

/** Threads of the wasm backend: the CPUs this process may use, at most XNNPACK's cap. */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, os.availableParallelism()));
}

let wasmThreads = 1;
let wasmThreadsNote = '';

async function loadWasm(tf: Tf, threads: number): Promise<string | undefined> {
  try {
    require('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return `@tensorflow/tfjs-backend-wasm: ${(e as Error).message.split('\n')[0]}`;
  }
  if (threads > 1) {
    try {
      wasmThreads = await registerThreadedWasm(tf, threads);
    } catch (e) {
      // The single-threaded backend stays registered: slower, but it works.
      wasmThreadsNote = ` (threads unavailable: ${(e as Error).message})`;
    }
  }
  if (!(await activate(tf, 'wasm'))) return 'the wasm backend did not initialise';
  // Our wasm kernels (fixes for kernels missing or slow as shipped), then the ones the optional
  // native addon computes, which wrap them: the lists are in wasm/register.ts, native/register.ts.
  registerWasmKernels(tf);
  registerNativeKernels(tf, threads);
  return undefined;
}

export interface WebGpuAdapterReport {
  /** The adapter's info (vendor, architecture, device, description, ...), when there is one. */
  adapter?: Record<string, string | number | boolean>;
  /** Why there is none. */
  error?: string;
}

const WEBGPU_PACKAGES = ['@tensorflow/tfjs-backend-webgpu', 'webgpu'];

/** The WebGPU packages that are not installed (an empty list when both are). */
export function missingWebGpuPackages(): string[] {
  return WEBGPU_PACKAGES.filter((pkg) => {
    try {
      require.resolve(`${pkg}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
}

interface DawnModule {
  create(options: string[]): { requestAdapter(opts?: object): Promise<{ info?: object } | null> };
  globals: object;
}

let webGpu:
  { gpu: ReturnType<DawnModule['create']>; adapter?: Record<string, string | number | boolean>; uploadFix?: UploadFixResult } | undefined;

/**
 * Provides WebGPU to this process from Dawn's Node binding: its globals (GPUBuffer,
 * GPUBufferUsage, ...) and `navigator.gpu`, which Node 20 lacks and tfjs-backend-webgpu looks
 * for when it is imported. `webgpu` is an ES module: imported, not required.
 */
async function installWebGpuGlobals(): Promise<NonNullable<typeof webGpu>> {
  if (webGpu) return webGpu;
  const specifier = 'webgpu';
  const dawn = (await import(specifier)) as DawnModule;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const g = globalThis as { navigator?: object };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  webGpu = { gpu };
  return webGpu;
}

/** The adapter's info as plain data (GPUAdapterInfo's fields are getters on its prototype). */
function adapterInfoRecord(info: object | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (!info) return out;
  // Enumerable or not (native bindings differ): own keys, inherited ones, and the prototype's accessors.
  const keys = new Set<string>(['vendor', 'architecture', 'device', 'description']);
  for (const key in info) keys.add(key);
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(info) ?? {})) if (key !== 'constructor') keys.add(key);
  for (const key of keys) {
    let v: unknown;
    try {
      v = (info as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
  }
  return out;
}

/**
 * In this process: asks Dawn for the adapter tfjs would use. Dawn prints why there is none to
 * stderr itself, so callers that want that reason run this in a child (probeWebGpuAdapter).
 */
export async function requestWebGpuAdapter(): Promise<WebGpuAdapterReport> {
  const missing = missingWebGpuPackages();
  if (missing.length) return { error: `${missing.join(' and ')} not installed` };
  try {
    const w = await installWebGpuGlobals();
    const adapter = await w.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return { error: 'no WebGPU adapter' };
    w.adapter = adapterInfoRecord(adapter.info);
    return { adapter: w.adapter };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

/** The same, in a child process with a time limit; Dawn's own messages become the reason. */
export async function probeWebGpuAdapter(timeoutMs = 30_000): Promise<WebGpuAdapterReport> {
  const outcome = await runProbe<WebGpuAdapterReport>(['webgpu-adapter'], timeoutMs);
  const dawnSays = outcome.stderrLines.map((l) => l.replace(/^Warning:\s*/, '')).join('; ');
  const report = outcome.result ?? { error: outcome.error };
  if (report.error && dawnSays) report.error = `${report.error} (${dawnSays})`;
  return report;
}

/**
 * Loads tfjs-backend-webgpu on Dawn. First asks for an adapter in a child process, so that a
 * machine without one gets one clear reason (and no Dawn warnings or tfjs stack on stderr).
 */
async function loadWebGpu(tf: Tf, adapterProbe: boolean): Promise<string | undefined> {
  const missing = missingWebGpuPackages();
  if (missing.length) return `${missing.join(' and ')} not installed`;
  if (adapterProbe) {
    const probe = await probeWebGpuAdapter();
    if (!probe.adapter) return probe.error ?? 'no WebGPU adapter';
  }
  try {
    const w = await installWebGpuGlobals();
    if (!w.adapter) {
      const report = await requestWebGpuAdapter();
      if (!report.adapter) return report.error;
    }
    // Imported only now: it registers its backend at import time, and only if navigator.gpu exists.
    const webgpuBackend = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: { prototype: object } };
    const { version } = require('@tensorflow/tfjs-backend-webgpu/package.json') as { version: string };
    // Our fixes to its backend class (the list is in webgpu/register.ts).
    w.uploadFix = registerWebGpuFixes(webgpuBackend.WebGPUBackend, version);
    registerWebGpuKernels(tf);
  } catch (e) {
    return `@tensorflow/tfjs-backend-webgpu: ${(e as Error).message.split('\n')[0]}`;
  }
  if (!(await activate(tf, 'webgpu'))) return 'the webgpu backend did not initialise (an adapter was found, but no device)';
  configureWebGpuSubmits(tf);
  return undefined;
}

/** The adapter's vendor, architecture and device, as far as Dawn names them. */
function webGpuAdapterName(): string {
  return adapterName(webGpu?.adapter);
}

function webGpuDescription(): string {
  const a = webGpu?.adapter ?? {};
  const on = [a.vendor, a.architecture, a.device, a.description].filter((x) => x !== undefined && x !== '').join(' ');
  const fix = webGpu?.uploadFix?.applied ? 'upload fix on' : (webGpu?.uploadFix?.reason ?? 'upload fix not applied');
  const software = webGpu?.adapter && softwareAdapter(webGpu.adapter);
  const speed = software
    ? `${software}, software: fine for tests, not for speed`
    : 'auto takes it where a calibration measured it faster than the CPU path';
  return `GPU through WebGPU (Dawn) on ${on || 'an unnamed adapter'}, ${fix}; ${speed}`;
}

/** What runs, in full: gan doctor's line for the backend. */
function backendDetail(name: BackendName): string {
  switch (name) {
    case 'tensorflow-gpu':
      return 'TensorFlow with CUDA (tfjs-node-gpu)';
    case 'tensorflow':
      return 'native TensorFlow on the CPU (tfjs-node)';
    case 'webgpu':
      return webGpuDescription();
    case 'wasm':
      return `WebAssembly (embedded, CPU, ${wasmThreads} thread${wasmThreads > 1 ? 's' : ''})${wasmThreadsNote}, ${nativeGemmStatus()}`;
    case 'cpu':
      return 'pure JavaScript (slow)';
  }
}

/** The first line's width: it fits a 100-column terminal. */
export const NOTICE_COLUMNS = 100;

/**
 * `head` and the first of `tails` that fits in NOTICE_COLUMNS with it (longest first); where none
 * does, the head alone, cut if it must be.
 */
export function fitNotice(head: string, ...tails: string[]): string {
  const tail = tails.find((t) => head.length + t.length <= NOTICE_COLUMNS);
  if (tail !== undefined) return head + tail;
  return head.length <= NOTICE_COLUMNS ? head : `${head.slice(0, NOTICE_COLUMNS - 3)}...`;
}

/**
 * The line every command prints first: one short sentence (it used to hold the install commands
 * of every faster backend and wrapped over four lines; those are gan doctor's now). `why`: why
 * auto took it.
 */
function backendNotice(name: BackendName, why?: string): string {
  const doctor = ganCommand('doctor');
  if (name === 'webgpu') {
    const software = webGpu?.adapter && softwareAdapter(webGpu.adapter);
    // A software driver is named as such: its adapter's name says little (google swiftshader swiftshader-device-subzero-).
    if (software) return fitNotice(`backend: webgpu on ${software} (software: fine for tests, not for speed)`);
    return fitNotice(`backend: webgpu on ${webGpuAdapterName()}${why ? ` (${why})` : ''}`);
  }
  if (name === 'wasm') {
    const threads = `${wasmThreads} thread${wasmThreads > 1 ? 's' : ''}`;
    const kernels = nativeGemmLoaded() ? 'native kernels' : 'no native kernels';
    return fitNotice(
      `backend: wasm (CPU, ${threads}, ${kernels})${why ? `: ${why}` : ''}`,
      `; for a GPU see: ${doctor}`,
      `; see ${doctor}`,
    );
  }
  switch (name) {
    case 'tensorflow-gpu':
      return 'backend: tensorflow-gpu (TensorFlow with CUDA)';
    case 'tensorflow':
      return `backend: tensorflow (TensorFlow on the CPU); for a GPU see: ${doctor}`;
    case 'cpu':
      return `backend: cpu (pure JavaScript, slow); why no faster one loads: ${doctor}`;
  }
}

/** Where the evaluation classifier runs, and how to run code there. */
export interface ClassifierBackend {
  name: BackendName;
  run<T>(fn: () => Promise<T>): Promise<T>;
}

let wasmBesideWebGpu: Promise<string | undefined> | undefined;

/**
 * The evaluation classifier runs on the CPU path (wasm) when the training backend is webgpu: its
 * features (FID's ground) are then the same figures as on every CPU machine, and it reads 20,000
 * reference images per evaluation, which a software Vulkan driver takes hours over (0.35 s an
 * image on SwiftShader). tfjs keeps each tensor on the backend that made it: `run` makes wasm the
 * active backend for `fn` (which must not touch webgpu tensors: the classifier gets pixel bytes,
 * read back first) and makes webgpu active again after it. Elsewhere the classifier runs where
 * everything else does.
 */
export function classifierBackend(backend: LoadedBackend): ClassifierBackend {
  if (backend.name !== 'webgpu') return { name: backend.name, run: (fn) => fn() };
  const tf = backend.tf;
  return {
    name: 'wasm',
    run: async (fn) => {
      // loadWasm registers the wasm kernels (ours and the native addon's) once, and activates it.
      const failure = await (wasmBesideWebGpu ??= loadWasm(tf, defaultWasmThreads()));
      if (failure) throw new BackendError(`the evaluation classifier runs on wasm, which did not load (${failure})`, doctorHint());
      await tf.setBackend('wasm');
      try {
        return await fn();
      } finally {
        await tf.setBackend('webgpu');
      }
    },
  };
}

/**
 * Loads and activates a backend. `auto` takes the best that loads; a named backend that cannot
 * load is an error naming what to install. Loading twice in one process returns the first.
 */
export async function loadBackend(
  choice: BackendChoice = 'auto',
  opts: {
    threads?: number;
    webgpuAdapterProbe?: boolean;
    /** What the command trains: `auto` calibrates webgpu against wasm for it (where a real GPU is). */
    workload?: Workload;
    /** Told when a calibration starts (seconds, once per machine and workload). */
    onCalibrate?: (w: Workload) => void;
  } = {},
): Promise<LoadedBackend> {
  if (loaded && (choice === 'auto' || choice === loaded.name)) return loaded;
  if (loaded) throw new BackendError(`backend ${loaded.name} is already active in this process; cannot switch to ${choice}`);

  // Loaded here, not at import, so that importing the library loads no tfjs at all.
  const tf: Tf = require('@tensorflow/tfjs');
  // Silence tfjs's "install tfjs-node" console banner: our notice says the same, once.
  tf.env().set('PROD', true);

  const attempts: Array<[BackendName, () => Promise<string | undefined>]> = [
    ['tensorflow-gpu', () => loadNative(tf, 'tensorflow-gpu')],
    ['tensorflow', () => loadNative(tf, 'tensorflow')],
    ['webgpu', () => loadWebGpu(tf, opts.webgpuAdapterProbe ?? true)],
    ['wasm', () => loadWasm(tf, opts.threads ?? defaultWasmThreads())],
    ['cpu', async () => ((await activate(tf, 'cpu')) ? undefined : 'the cpu backend did not initialise')],
  ];
  const failures: string[] = [];
  // Why auto takes what it takes: told on the first line.
  let why: string | undefined;
  for (const [name, attempt] of attempts) {
    if (choice !== 'auto' && choice !== name) continue;
    if (choice === 'auto' && name === 'webgpu') {
      // Taken only on a real GPU measured faster (src/backends/auto.ts); nothing is loaded to find out where no GPU is seen.
      const threads = opts.threads ?? defaultWasmThreads();
      const decision = await chooseAuto(
        { webgpuMissing: missingWebGpuPackages().join(', ') || undefined, gpuSeen: gpuSeen(), workload: opts.workload },
        {
          probeAdapter: async () => {
            const r = await probeWebGpuAdapter();
            return r.adapter ? { info: r.adapter } : { error: r.error ?? 'no WebGPU adapter' };
          },
          measure: (candidate, w) => measureInChild(candidate === 'cpu' ? 'wasm' : 'webgpu', w, threads),
          store: () => fileStore(),
          onCalibrate: opts.onCalibrate,
          cpuBackend: 'wasm',
        },
      );
      why = decision.reason;
      if (decision.backend !== 'webgpu') continue;
    }
    const failure = await attempt();
    if (failure === undefined) {
      loaded = { tf, name, notice: backendNotice(name, choice === 'auto' ? why : undefined), detail: backendDetail(name) };
      return loaded;
    }
    if (choice === 'auto' && name === 'webgpu') why = `webgpu did not load: ${failure}`;
    failures.push(failure);
  }
  if (choice === 'tensorflow-gpu') {
    throw new BackendError(`backend tensorflow-gpu is not available (${failures[0]})`, `Install it with: ${GPU_INSTALL}; ${doctorHint()}`);
  }
  if (choice === 'tensorflow') {
    throw new BackendError(`backend tensorflow is not available (${failures[0]})`, `Install it with: ${NODE_INSTALL}; ${doctorHint()}`);
  }
  if (choice === 'webgpu') {
    const fix = /not installed/.test(failures[0]) ? `Install it with: ${WEBGPU_INSTALL}; ` : '';
    throw new BackendError(`backend webgpu is not available (${failures[0]})`, `${fix}${doctorHint()}`);
  }
  if (choice !== 'auto')
    throw new BackendError(`backend ${choice} is not available (${failures[0]})`, `Reinstall with npm ci; ${doctorHint()}`);
  throw new BackendError(`no tfjs backend could load: ${failures.join('; ')}`, `Reinstall with npm ci; ${doctorHint()}`);
}
