/**
 * What `auto` (src/backends/auto.ts) needs to know of this machine, done for real: whether a GPU
 * is seen at all (cheap: the PCI bus, no Dawn), which machine this is (the calibrations' cache
 * key), the calibrations' cache file, and the timing of a candidate in a child process.
 *
 * The cache: one JSON file per machine, $GAN_CACHE_DIR/backends/MACHINE.json (else
 * $XDG_CACHE_HOME/gan/..., else ~/.cache/gan/...), holding the WebGPU adapter's verdict and one
 * calibration per workload. A file that is unreadable, not JSON, or of another shape counts as
 * absent (the calibration is run again); writes are atomic; a cache that cannot be written is
 * only a cache: the choice stands, and is measured again next time.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT, userCacheDir } from '../util/paths';
import { writeFileAtomic } from '../util/fs';
import { runProbe } from './probe-runner';
import { workloadKey, type AdapterInfo, type AdapterVerdict, type Calibration, type CalibrationStore, type Workload } from './auto';

/** PCI vendors of display devices that are not GPUs to compute on: server BMCs' VGA and virtual displays. */
const NOT_COMPUTE_GPUS = new Set([
  '0x1a03', // ASPEED (server BMC graphics)
  '0x102b', // Matrox (server BMC graphics)
  '0x1013', // Cirrus Logic (emulated)
  '0x1234', // QEMU / Bochs
  '0x1af4', // virtio
  '0x15ad', // VMware SVGA
  '0x1414', // Hyper-V
  '0x80ee', // VirtualBox
]);

/** Display and 3D controllers on the PCI bus (class 0x03), as vendor:device, minus the ones above. */
export function pciComputeGpus(root = '/sys/bus/pci/devices'): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return out;
  }
  for (const d of entries) {
    try {
      const read = (f: string) => fs.readFileSync(path.join(root, d, f), 'utf8').trim();
      if (!read('class').startsWith('0x03')) continue;
      const vendor = read('vendor');
      if (!NOT_COMPUTE_GPUS.has(vendor)) out.push(`${vendor.slice(2)}:${read('device').slice(2)}`);
    } catch {
      // a device that vanished or cannot be read is not a GPU we can use
    }
  }
  return out.sort();
}

/**
 * Whether a GPU may be here, without loading Dawn: on Linux a GPU on the PCI bus or NVIDIA's
 * device nodes (containers); elsewhere (macOS: Metal; Windows: D3D12) the platform cannot tell
 * cheaply, so the adapter is asked.
 */
export function gpuSeen(root = '/sys/bus/pci/devices'): boolean {
  if (process.platform !== 'linux') return true;
  return pciComputeGpus(root).length > 0 || fs.existsSync('/dev/nvidiactl');
}

/** The Vulkan driver manifests the loader reads by default, and the variables that override them. */
function vulkanDrivers(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const dir of ['/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/etc/vulkan/icd.d']) {
    try {
      for (const f of fs.readdirSync(dir)) out.push(path.join(dir, f));
    } catch {
      // folder absent
    }
  }
  for (const k of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'VK_ADD_DRIVER_FILES']) if (env[k]) out.push(`${k}=${env[k]}`);
  return out;
}

function packageVersion(folder: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'none';
  }
}

/**
 * What makes a calibration hold: the host, its CPU and GPUs, the Vulkan drivers in use, and the
 * versions of gan and the WebGPU packages. A new driver or a new gan measures again.
 */
export function machineIdentity(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  let webgpu = 'none';
  try {
    webgpu = packageVersion(path.dirname(require.resolve('@tensorflow/tfjs-backend-webgpu/package.json')));
  } catch {
    // not installed
  }
  return {
    host: os.hostname(),
    platform: `${process.platform}-${process.arch}`,
    cpu: `${os.cpus()[0]?.model?.trim() ?? 'unknown'} x${os.availableParallelism()}`,
    gpus: pciComputeGpus().join(',') || 'none on the PCI bus',
    vulkan: vulkanDrivers(env).join(','),
    gan: packageVersion(PACKAGE_ROOT),
    webgpu,
  };
}

export function machineId(identity: Record<string, string>): string {
  return crypto.createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
}

interface CacheFile {
  version: 1;
  machine: Record<string, string>;
  adapter?: AdapterVerdict;
  calibrations: Record<string, Calibration>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const positive = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v > 0);

function validAdapter(v: unknown): AdapterVerdict | undefined {
  if (!isRecord(v)) return undefined;
  if (typeof v.error === 'string') return { error: v.error };
  if (!isRecord(v.info)) return undefined;
  const info: AdapterInfo = {};
  for (const [k, x] of Object.entries(v.info)) if (['string', 'number', 'boolean'].includes(typeof x)) info[k] = x as string;
  return { info };
}

function validCalibration(v: unknown): Calibration | undefined {
  if (!isRecord(v) || typeof v.cpuBackend !== 'string' || typeof v.at !== 'string') return undefined;
  if (!positive(v.webgpuMs) || !positive(v.cpuMs)) return undefined;
  if (v.error !== undefined && typeof v.error !== 'string') return undefined;
  return v as unknown as Calibration;
}

/** Reads a cache file; anything unreadable or of the wrong shape is absent. Never throws. */
export function readCacheFile(file: string): CacheFile | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || parsed.version !== 1 || !isRecord(parsed.calibrations)) return undefined;
  const calibrations: Record<string, Calibration> = {};
  for (const [k, c] of Object.entries(parsed.calibrations)) {
    const valid = validCalibration(c);
    if (valid) calibrations[k] = valid;
  }
  return {
    version: 1,
    machine: isRecord(parsed.machine) ? (parsed.machine as Record<string, string>) : {},
    adapter: validAdapter(parsed.adapter),
    calibrations,
  };
}

/** The folder of the calibration files. */
export function calibrationDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheDir(env), 'backends');
}

/** This machine's calibration cache, in `dir` (default: the user's cache folder). */
export function fileStore(dir = calibrationDir(), identity = machineIdentity()): CalibrationStore & { file: string } {
  const file = path.join(dir, `${machineId(identity)}.json`);
  const current = (): CacheFile => readCacheFile(file) ?? { version: 1, machine: identity, calibrations: {} };
  const save = (change: (c: CacheFile) => void) => {
    try {
      const c = current();
      c.machine = identity;
      change(c);
      fs.mkdirSync(dir, { recursive: true });
      writeFileAtomic(file, JSON.stringify(c, null, 2) + '\n');
    } catch {
      // Only a cache: the choice stands and is measured again next time.
    }
  };
  return {
    file,
    adapter: () => readCacheFile(file)?.adapter,
    saveAdapter: (v) => save((c) => (c.adapter = v)),
    calibration: (w) => readCacheFile(file)?.calibrations[workloadKey(w)],
    saveCalibration: (w, cal) => save((c) => (c.calibrations[workloadKey(w)] = cal)),
  };
}

/** Steps of a calibration: warm-up (kernels compile, buffers are made), then timed. */
export const CALIBRATION_STEPS = { warmup: 2, timed: 4 };
const CALIBRATION_TIMEOUT_MS = 180_000;

/** Times a few training steps of the workload on one backend, in a child process (src/backends/calibrate.ts). */
export async function measureInChild(backend: 'webgpu' | 'wasm', w: Workload, threads: number): Promise<number> {
  const outcome = await runProbe<{ msPerStep?: number; error?: string }>(
    ['calibrate', backend, JSON.stringify(w), String(threads)],
    CALIBRATION_TIMEOUT_MS,
  );
  const r = outcome.result;
  if (r?.msPerStep !== undefined) return r.msPerStep;
  throw new Error(r?.error ?? outcome.error ?? 'no result');
}
