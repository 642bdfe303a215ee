/**
 * The child process of src/backends/probe-runner.ts (run by `gan doctor`, and by the webgpu backend to
 * look for an adapter before loading): does one check and prints its result as one JSON line.
 *
 *   node dist/src/backends/probe.js backend <name>     load a tfjs backend and run one small op on it
 *   node dist/src/backends/probe.js webgpu-adapter     ask Dawn for a WebGPU adapter, and its info
 *   node dist/src/backends/probe.js addon              load the native GEMM addon
 *   node dist/src/backends/probe.js calibrate <backend> <workload json> <threads>
 *                                                      time a few training steps (auto's calibration)
 */
import { PROBE_MARKER } from './probe-runner';

export interface BackendProbe {
  ok: boolean;
  /** What runs, in full (LoadedBackend.detail): gan doctor's line for the backend. */
  notice?: string;
  /** One small op's result matched (1 + [1, 2, 3] read back from the device). */
  computes?: boolean;
  error?: string;
  /** webgpu: the adapter's info. */
  adapter?: Record<string, string | number | boolean>;
  ms: number;
}

export interface AddonProbe {
  loads: boolean;
  /** The micro-kernel it chose for this CPU (avx512, avx2, ...) and its threads. */
  kernel?: string;
  threads?: number;
  error?: string;
}

let result: unknown;
function print(r: unknown): void {
  result = r;
}

async function probeBackend(name: string): Promise<BackendProbe> {
  const started = Date.now();
  const { loadBackend, parseBackendChoice, requestWebGpuAdapter } = await import('./index.js');
  const { describeError } = await import('../util/errors.js');
  try {
    // The adapter is looked for right here: this process is already the child.
    const backend = await loadBackend(parseBackendChoice(name), { webgpuAdapterProbe: false });
    const { tf } = backend;
    const y = tf.add(tf.tensor1d([1, 2, 3]), tf.scalar(1));
    const values = Array.from(await y.data());
    y.dispose();
    const probe: BackendProbe = { ok: true, notice: backend.detail, computes: values.join(',') === '2,3,4', ms: Date.now() - started };
    if (name === 'webgpu') probe.adapter = (await requestWebGpuAdapter()).adapter;
    return probe;
  } catch (e) {
    return { ok: false, error: describeError(e), ms: Date.now() - started };
  }
}

async function probeAddon(): Promise<AddonProbe> {
  const { loadGemmAddon, nativeGemmStatus } = await import('./native/addon.js');
  const addon = loadGemmAddon();
  if (!addon) return { loads: false, error: nativeGemmStatus().replace(/^native GEMM /, '') };
  return { loads: true, kernel: addon.kernel(), threads: addon.threads() };
}

async function probeCalibrate(
  backend: 'webgpu' | 'wasm',
  workload: string,
  threads: string,
): Promise<{ msPerStep?: number; error?: string }> {
  const { calibrateOne } = await import('./calibrate.js');
  const { describeError } = await import('../util/errors.js');
  try {
    return { msPerStep: await calibrateOne(backend, JSON.parse(workload), Number(threads) || 1) };
  } catch (e) {
    return { error: describeError(e) };
  }
}

async function main(argv: string[]): Promise<void> {
  const [what, arg] = argv;
  try {
    if (what === 'backend' && arg) print(await probeBackend(arg));
    else if (what === 'webgpu-adapter') print(await (await import('./index.js')).requestWebGpuAdapter());
    else if (what === 'addon') print(await probeAddon());
    else if (what === 'calibrate' && (arg === 'webgpu' || arg === 'wasm')) print(await probeCalibrate(arg, argv[2], argv[3]));
    else print({ error: `unknown probe: ${argv.join(' ')}` });
  } catch (e) {
    print({ ok: false, loads: false, error: (e as Error).message.split('\n')[0] });
  }
  // Backends keep thread pools and device handles alive: exit once the line is written.
  process.stdout.write(`\n${PROBE_MARKER}${JSON.stringify(result)}\n`, () => process.exit(0));
}

if (require.main === module) void main(process.argv.slice(2));
