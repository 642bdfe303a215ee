/**
 * What `--backend auto` takes between webgpu and the CPU path (wasm), decided from data alone:
 * decideAuto() is a pure function of what is known (a GPU seen on the machine, the WebGPU
 * adapter's info, a cached calibration); chooseAuto() fills in what it asks for, cheapest first,
 * through injected functions (src/backends/machine.ts gives the real ones), so both are tested
 * without a backend.
 *
 * webgpu is taken only where the adapter is a real GPU (never SwiftShader, llvmpipe / lavapipe
 * or a CPU-type adapter: they run WebGPU on the CPU, slower than wasm) AND a short calibration
 * (a few training steps of each candidate for this architecture, width and batch size, once per
 * machine) measured it faster. Where no GPU is seen on the machine nothing else is asked: Dawn
 * is not even loaded, so the common CPU path starts as fast as before.
 *
 * This module imports nothing of the backends: src/backends/index.ts imports it.
 */

/** The adapter's info as Dawn gives it (vendor, architecture, device, description, ...). */
export type AdapterInfo = Record<string, string | number | boolean>;

/** What asking Dawn for an adapter gave: its info, or why there is none. */
export type AdapterVerdict = { info: AdapterInfo; error?: undefined } | { info?: undefined; error: string };

/** What a training command will run: calibrations are cached per workload (and machine). */
export interface Workload {
  arch: string;
  /** DCGAN's width C; for the MLP, its hidden widths say the width. */
  channels?: number;
  generatorHidden?: number[];
  discriminatorHidden?: number[];
  conditional: boolean;
  batchSize: number;
}

/** A few training steps of each candidate, timed (ms per step; absent: it failed, and why). */
export interface Calibration {
  webgpuMs?: number;
  cpuMs?: number;
  /** The CPU backend it was measured against (wasm). */
  cpuBackend: string;
  error?: string;
  /** When it was measured (ISO time). */
  at: string;
}

export interface AutoInputs {
  /** Why webgpu cannot run here at all (its packages are not installed), if so. */
  webgpuMissing?: string;
  /** A GPU is seen on the machine (the PCI bus, /dev/nvidia*), or the platform cannot tell. */
  gpuSeen: boolean;
  /** What the command trains; absent: it does not calibrate (sample, eval: a few forward passes). */
  workload?: Workload;
  /** Absent: not asked yet. */
  adapter?: AdapterVerdict;
  /** Absent: none cached for this machine and workload. */
  calibration?: Calibration;
}

export type AutoDecision =
  | { backend: 'webgpu' | 'cpu'; reason: string; need?: undefined }
  | { need: 'adapter' | 'calibration'; backend?: undefined; reason?: undefined };

/** webgpu must beat the CPU path by this factor: a few steps are noisy, and the CPU path is the tested one. */
export const WEBGPU_MARGIN = 0.9;

/** Software Vulkan drivers and WebGPU fallbacks: WebGPU on the CPU, fine for tests, not for speed. */
const SOFTWARE_DRIVERS: Array<[RegExp, string]> = [
  [/swiftshader/i, 'SwiftShader'],
  [/lavapipe/i, 'lavapipe'],
  [/llvmpipe/i, 'llvmpipe'],
  [/softpipe/i, 'softpipe'],
  [/warp|microsoft basic render/i, 'WARP'],
];

/**
 * The name of the software driver behind an adapter (SwiftShader, llvmpipe, ...), or undefined
 * for a real GPU. A CPU-type or fallback adapter is software whatever its name.
 */
export function softwareAdapter(info: AdapterInfo): string | undefined {
  const text = ['vendor', 'architecture', 'device', 'description', 'driver'].map((k) => String(info[k] ?? '')).join(' ');
  for (const [re, name] of SOFTWARE_DRIVERS) if (re.test(text)) return name;
  if (/^cpu$/i.test(String(info.adapterType ?? info.type ?? ''))) return 'a CPU-type adapter';
  if (info.isFallbackAdapter === true) return 'a fallback adapter';
  return undefined;
}

/** The adapter in a few words: vendor, architecture, device. */
export function adapterName(info: AdapterInfo | undefined): string {
  const a = info ?? {};
  return [a.vendor, a.architecture, a.device].filter((x) => x !== undefined && x !== '').join(' ') || 'an unnamed adapter';
}

/** The cache key of a workload: the same model at the same batch size times the same. */
export function workloadKey(w: Workload): string {
  const width =
    w.arch === 'dcgan' ? `c${w.channels}` : `g${(w.generatorHidden ?? []).join('-')}_d${(w.discriminatorHidden ?? []).join('-')}`;
  return `${w.arch}_${width}${w.conditional ? '_cond' : ''}_b${w.batchSize}`;
}

const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/**
 * The decision, from what is known so far; `need` says what to find out next. The cheap facts
 * come first, so that a machine without a GPU never asks Dawn anything.
 */
export function decideAuto(i: AutoInputs): AutoDecision {
  if (i.webgpuMissing) return { backend: 'cpu', reason: 'webgpu not installed' };
  if (!i.gpuSeen) return { backend: 'cpu', reason: 'no GPU' };
  if (!i.workload) return { backend: 'cpu', reason: 'the GPU is calibrated for training only' };
  if (!i.adapter) return { need: 'adapter' };
  if (!i.adapter.info) return { backend: 'cpu', reason: 'no WebGPU adapter' };
  const software = softwareAdapter(i.adapter.info);
  if (software) return { backend: 'cpu', reason: `WebGPU runs on ${software}, software` };
  const c = i.calibration;
  if (!c) return { need: 'calibration' };
  // Only two measured candidates are compared: a failed one keeps the CPU path, the tested one.
  if (c.webgpuMs === undefined || c.cpuMs === undefined)
    return { backend: 'cpu', reason: `${c.webgpuMs === undefined ? 'webgpu' : c.cpuBackend} failed its calibration` };
  const vs = `calibrated ${ms(c.webgpuMs)}/step vs ${c.cpuBackend} ${ms(c.cpuMs)}`;
  return c.webgpuMs < WEBGPU_MARGIN * c.cpuMs
    ? { backend: 'webgpu', reason: vs }
    : { backend: 'cpu', reason: `faster than webgpu: ${ms(c.cpuMs)}/step vs ${ms(c.webgpuMs)}` };
}

/** Where a machine's adapter verdict and calibrations are kept (src/backends/machine.ts). */
export interface CalibrationStore {
  adapter(): AdapterVerdict | undefined;
  saveAdapter(v: AdapterVerdict): void;
  calibration(w: Workload): Calibration | undefined;
  saveCalibration(w: Workload, c: Calibration): void;
}

export interface AutoDeps {
  /** Asks Dawn for an adapter (in a child process). */
  probeAdapter(): Promise<AdapterVerdict>;
  /** Times a few training steps of the workload on one candidate: ms per step; throws on failure. */
  measure(candidate: 'webgpu' | 'cpu', w: Workload): Promise<number>;
  /** Opened only when a GPU is seen: a machine without one reads no file. */
  store(): CalibrationStore;
  /** Told before a calibration starts (it takes seconds, once per machine and workload). */
  onCalibrate?(w: Workload): void;
  /** The CPU backend measured against. */
  cpuBackend?: string;
  now?(): Date;
}

/** Fills in what decideAuto asks for, from the store first, then by asking Dawn or measuring; saves what it learnt. */
export async function chooseAuto(
  inputs: AutoInputs,
  deps: AutoDeps,
): Promise<{ backend: 'webgpu' | 'cpu'; reason: string; adapter?: AdapterVerdict; calibration?: Calibration }> {
  const known: AutoInputs = { ...inputs };
  let store: CalibrationStore | undefined;
  for (;;) {
    const d = decideAuto(known);
    if (!d.need) return { backend: d.backend, reason: d.reason, adapter: known.adapter, calibration: known.calibration };
    store ??= deps.store();
    if (d.need === 'adapter') {
      known.adapter = store.adapter();
      if (!known.adapter) {
        known.adapter = await deps.probeAdapter().catch((e: Error) => ({ error: e.message }));
        store.saveAdapter(known.adapter);
      }
    } else {
      const w = known.workload!;
      known.calibration = store.calibration(w);
      if (!known.calibration) {
        deps.onCalibrate?.(w);
        known.calibration = await calibrate(w, deps);
        store.saveCalibration(w, known.calibration);
      }
    }
  }
}

/** One calibration: the CPU path, then webgpu, each a few timed steps; a failure is recorded, not thrown. */
async function calibrate(w: Workload, deps: AutoDeps): Promise<Calibration> {
  const c: Calibration = { cpuBackend: deps.cpuBackend ?? 'wasm', at: (deps.now?.() ?? new Date()).toISOString() };
  const errors: string[] = [];
  for (const candidate of ['cpu', 'webgpu'] as const) {
    try {
      const t = await deps.measure(candidate, w);
      if (!(Number.isFinite(t) && t > 0)) throw new Error(`measured ${t} ms per step`);
      if (candidate === 'cpu') c.cpuMs = t;
      else c.webgpuMs = t;
    } catch (e) {
      errors.push(`${candidate === 'cpu' ? c.cpuBackend : 'webgpu'}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (errors.length) c.error = errors.join('; ');
  return c;
}
