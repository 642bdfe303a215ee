/**
 * The one place that chooses and loads a tfjs backend. Everything else takes `tf` from here.
 *
 * Order for `auto`: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm (embedded, the default
 * on machines without the native addon), cpu (pure JS, slowest). The native packages are
 * optional: their install script downloads libtensorflow, which fails on many machines, and npm
 * then drops them; we must work without them.
 *
 * Only one tfjs package family is loaded per process: tfjs-node(-gpu) re-exports the same
 * @tensorflow/tfjs we import, so requiring it just registers the `tensorflow` backend.
 */
import type * as tfType from '@tensorflow/tfjs';
import { BackendError, ConfigError } from './errors';
import { installWasmMatMulFix } from './kernels/wasm-matmul';
import { registerConv2DBackpropFilterWasm } from './kernels/wasm-conv-backprop-filter';
import { registerConv2DBackpropInputWasm } from './kernels/wasm-conv-backprop-input';
import { MAX_WASM_THREADS, registerThreadedWasm } from './kernels/wasm-threads';
import { installNativeMatMul, nativeGemmStatus } from './kernels/native';
import { installWasmRowGather } from './kernels/wasm-gather';
import { installNativeConv } from './kernels/native-conv';
import { installNativeActivations } from './kernels/native-activations';
import { installWasmSharedIdentity } from './kernels/wasm-identity';
import { installNativeBatchNorm } from './kernels/batchnorm';
import * as os from 'node:os';

export type Tf = typeof tfType;

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** What actually runs: the choices without `auto`. */
export type BackendName = Exclude<BackendChoice, 'auto'>;

export const TFJS_VERSION = '4.22.0';
const GPU_INSTALL = `npm install @tensorflow/tfjs-node-gpu@${TFJS_VERSION} (needs CUDA 11.2 and cuDNN 8.1)`;
const NODE_INSTALL = `npm install @tensorflow/tfjs-node@${TFJS_VERSION}`;

export interface LoadedBackend {
  tf: Tf;
  name: BackendName;
  /** One line for the user: what runs and, when it is not the GPU, how to get faster. */
  notice: string;
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
  // Kernel fixes: fast transposed matmuls (every dense backward pass), and convolution
  // gradients (the classifier of gan eval; DCGANs), missing or very slow as shipped.
  installWasmMatMulFix(tf);
  registerConv2DBackpropFilterWasm(tf);
  registerConv2DBackpropInputWasm(tf);
  installWasmRowGather(tf);
  installWasmSharedIdentity(tf);
  // Matrix products natively on the wasm heap, where the optional addon was built.
  installNativeMatMul(tf, threads);
  // Convolutions (wrapping the wasm ones above) and training-mode batch norm, natively too.
  installNativeConv(tf);
  installNativeBatchNorm(tf);
  installNativeActivations(tf);
  return undefined;
}

/** Names the backends that could run, the faster first. */
function notFastestHint(name: BackendName): string {
  switch (name) {
    case 'tensorflow-gpu':
      return '';
    case 'tensorflow':
      return `; for an NVIDIA GPU: ${GPU_INSTALL}`;
    default:
      return `; for an NVIDIA GPU: ${GPU_INSTALL}`;
  }
}

/**
 * Loads and activates a backend. `auto` takes the best that loads; a named backend that cannot
 * load is an error naming what to install. Loading twice in one process returns the first.
 */
export async function loadBackend(choice: BackendChoice = 'auto', opts: { threads?: number } = {}): Promise<LoadedBackend> {
  if (loaded && (choice === 'auto' || choice === loaded.name)) return loaded;
  if (loaded) throw new BackendError(`backend ${loaded.name} is already active in this process; cannot switch to ${choice}`);

  // Loaded here, not at import, so that importing the library loads no tfjs at all.
  const tf: Tf = require('@tensorflow/tfjs');
  // Silence tfjs's "install tfjs-node" console banner: our notice says the same, once.
  tf.env().set('PROD', true);

  const attempts: Array<[BackendName, () => Promise<string | undefined>]> = [
    ['tensorflow-gpu', () => loadNative(tf, 'tensorflow-gpu')],
    ['tensorflow', () => loadNative(tf, 'tensorflow')],
    ['wasm', () => loadWasm(tf, opts.threads ?? defaultWasmThreads())],
    ['cpu', async () => ((await activate(tf, 'cpu')) ? undefined : 'the cpu backend did not initialise')],
  ];
  const failures: string[] = [];
  for (const [name, attempt] of attempts) {
    if (choice !== 'auto' && choice !== name) continue;
    const failure = await attempt();
    if (failure === undefined) {
      const what = name === 'tensorflow-gpu' ? 'TensorFlow with CUDA (tfjs-node-gpu)' : name === 'tensorflow' ? 'native TensorFlow on the CPU (tfjs-node)' : name === 'wasm' ? `WebAssembly (embedded, CPU, ${wasmThreads} thread${wasmThreads > 1 ? 's' : ''})${wasmThreadsNote}, ${nativeGemmStatus()}` : 'pure JavaScript (slow)';
      loaded = { tf, name, notice: `backend: ${name}, ${what}${notFastestHint(name)}` };
      return loaded;
    }
    failures.push(failure);
  }
  if (choice === 'tensorflow-gpu') {
    throw new BackendError(`backend tensorflow-gpu is not available (${failures[0]})`, `Install it with: ${GPU_INSTALL}`);
  }
  if (choice === 'tensorflow') {
    throw new BackendError(`backend tensorflow is not available (${failures[0]})`, `Install it with: ${NODE_INSTALL}`);
  }
  throw new BackendError(`no tfjs backend could load: ${failures.join('; ')}`, 'Reinstall with npm ci');
}
