/**
 * A multi-threaded tfjs `wasm` backend under Node (tfjs 4.22), without patching node_modules.
 *
 * Why stock tfjs runs one thread in Node:
 *  1. WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false under Node (tfjs issue 3830).
 *  2. Forced on, tfjs hands emscripten the pthread worker script and the main script as Blob
 *     URLs, which Node's worker_threads.Worker rejects (ERR_WORKER_PATH).
 *  3. With 1 and 2 worked around, the C++ side computes
 *       num_cores = emscripten_num_logical_cores() / 2      // "assume 2 hyperthreads per core"
 *     and clamps every requested thread count to it. Under Node that import returns the CPU
 *     count, so a 2-CPU machine gets 1 and setThreadsCount(2) silently becomes 1. num_cores is
 *     set by the module's static constructors, so it must be fixed at instantiation.
 * So we instantiate the threaded-SIMD emscripten module ourselves: the worker script goes to a
 * real file, the main script is given as a file path, and the emscripten_num_logical_cores
 * import answers 2 x the threads we want. The module is wrapped in tfjs's own BackendWasm class
 * and registered as 'wasm', so every wasm kernel (and our kernel fixes) applies unchanged.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// The module object itself (not an import namespace, whose properties are read-only): the
// emscripten factory reads Worker from it, and we swap in a subclass while it starts.
const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
import type { Tf } from '../tf';

/** backend.cc's own cap. */
export const MAX_WASM_THREADS = 8;

type AnyFn = (...args: unknown[]) => unknown;
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): AnyFn;
  PThread: { terminateAllThreads(): void; unusedWorkers: Array<{ terminate(): void }>; runningWorkers: Array<{ unref(): void }> };
  tfjs?: Record<string, AnyFn>;
  [k: string]: unknown;
}

function wasmOutDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'));
}

/**
 * Node's Worker needs a file (no blob: URLs; a data: URL would load as ESM, but the script uses
 * require). Named by content hash, written atomically, so concurrent processes share it.
 */
function writeWorkerScript(dir: string): string {
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // The source sits in a template literal, so the "\n" escapes inside its JS strings became real
  // newlines; restore them (tfjs does the same before building its Blob).
  const src = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = crypto.createHash('sha1').update(src).digest('hex').slice(0, 12);
  const file = path.join(os.tmpdir(), `tfjs-wasm-pthread-worker-${hash}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, src);
    fs.renameSync(tmp, file);
  }
  return file;
}

interface WasmPackage {
  BackendWasm: new (module: EmscriptenModule) => unknown;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** The threaded-SIMD module's files, the pthread worker script written out as a real file. */
function moduleFiles(): { dir: string; mainScript: string; wasmFile: string; workerScript: string } {
  const dir = wasmOutDir();
  const mainScript = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const wasmFile = path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const workerScript = writeWorkerScript(dir);
  return { dir, mainScript, wasmFile, workerScript };
}

/** While the module starts, a worker's error rejects `failed` instead of crashing the process. */
interface Startup {
  starting: boolean;
  fail: (e: Error) => void;
  failed: Promise<never>;
  /** The Worker class the factory is to use while it starts. */
  Worker: typeof workerThreads.Worker;
}

function startupGuard(): Startup {
  const startup = { starting: true, fail: (_e: Error) => {} } as Startup;
  startup.failed = new Promise<never>((_, reject) => (startup.fail = reject));
  // Emscripten answers a worker 'error' by throwing from the event handler, an uncaught
  // exception that would kill the process. While starting up, turn it into a rejection.
  class StartupWorker extends workerThreads.Worker {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'error' && startup.starting) {
        startup.fail(new Error(`pthread worker failed: ${(args[0] as Error)?.message ?? args[0]}`));
        return true;
      }
      return super.emit(event, ...args);
    }
  }
  startup.Worker = StartupWorker;
  return startup;
}

/** The emscripten module's configuration: our files, and a core count that yields `threads`. */
function moduleConfig(files: ReturnType<typeof moduleFiles>, threads: number, fail: (e: Error) => void): EmscriptenModule {
  const { dir, mainScript, wasmFile, workerScript } = files;
  return {
    locateFile: (p: string) => (p.endsWith('.worker.js') ? workerScript : path.join(dir, p)),
    // Each pthread worker importScripts() this with fs.readFileSync, so it must be a path.
    mainScriptUrlOrBlob: mainScript,
    onAbort: (why: unknown) => fail(new Error(`wasm aborted: ${why}`)),
    instantiateWasm(info: { env: Record<string, unknown> }, receiveInstance: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) {
      // backend.cc halves this value, then clamps the thread count to it.
      const env = { ...info.env, emscripten_num_logical_cores: () => 2 * threads };
      WebAssembly.instantiate(fs.readFileSync(wasmFile), { ...info, env, wasi_snapshot_preview1: env } as unknown as WebAssembly.Imports)
        .then((r) => receiveInstance(r.instance, r.module))
        .catch((e: Error) => fail(e));
      return {};
    },
  } as unknown as EmscriptenModule;
}

/** Stops the module's pthreads, if it started any. */
function shutdown(config: EmscriptenModule): void {
  try {
    config.PThread.terminateAllThreads();
  } catch {
    // not started
  }
}

/** Runs the emscripten factory until the module is ready, failed, or `timeoutMs` passed. */
async function startModule(
  factory: (config: object) => Promise<unknown>,
  config: EmscriptenModule,
  startup: Startup,
  timeoutMs: number,
): Promise<void> {
  const listenersOf = (ev: 'uncaughtException' | 'unhandledRejection') => new Set(process.listeners(ev as 'uncaughtException'));
  const before = { uncaughtException: listenersOf('uncaughtException'), unhandledRejection: listenersOf('unhandledRejection') };
  let timer: NodeJS.Timeout | undefined;
  const NodeWorker = workerThreads.Worker;
  const mutableThreads = workerThreads as { Worker: typeof NodeWorker };
  try {
    mutableThreads.Worker = startup.Worker; // read by the factory as it starts
    let ready: Promise<unknown>;
    try {
      ready = factory(config);
    } finally {
      mutableThreads.Worker = NodeWorker;
    }
    const timeout = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)),
    );
    await Promise.race([ready, startup.failed, timeout]);
  } catch (e) {
    shutdown(config);
    throw new Error(`threaded wasm module failed to start: ${(e as Error)?.message ?? e}`);
  } finally {
    clearTimeout(timer);
    // The module installs process-wide handlers that rethrow; restore Node's defaults.
    for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
      for (const l of process.listeners(ev as 'uncaughtException')) if (!before[ev].has(l)) process.removeListener(ev, l);
    }
  }
  startup.starting = false;
}

/** The same shape as tfjs's own init() result, so BackendWasm can use the module. */
function attachTfjsApi(config: EmscriptenModule): void {
  config.tfjs = {
    init: config.cwrap('init', null, []),
    initWithThreadsCount: config.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: config.cwrap('get_threads_count', 'number', []),
    registerTensor: config.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: config.cwrap('dispose_data', null, ['number']),
    dispose: config.cwrap('dispose', null, []),
  };
}

/** tfjs's BackendWasm on the started module, its XNNPACK pool of `threads` threads checked. */
function createBackend(wasmPkg: WasmPackage, config: EmscriptenModule, threads: number): { backend: unknown; actual: number } {
  // BackendWasm's constructor creates the XNNPACK pthreadpool with the count given here.
  wasmPkg.setThreadsCount(threads);
  let backend: unknown;
  let actual: number;
  try {
    backend = new wasmPkg.BackendWasm(config);
    actual = wasmPkg.getThreadsCount();
  } catch (e) {
    shutdown(config);
    throw new Error(`backend init failed: ${(e as Error).message}`);
  }
  if (actual !== threads) {
    shutdown(config);
    throw new Error(`asked for ${threads} threads, the XNNPACK pool has ${actual}`);
  }
  // Emscripten pre-spawns 8 workers; the pool uses threads-1 of them: free the rest. The pool's
  // pthreads never finish, so unref them or Node would never exit.
  for (const w of config.PThread.unusedWorkers.splice(0)) w.terminate();
  for (const w of config.PThread.runningWorkers) w.unref();
  return { backend, actual };
}

/**
 * Replaces the registered 'wasm' backend with one whose XNNPACK pool runs `threads` threads.
 * Call before tf.setBackend('wasm'). On failure it throws, leaves nothing running, and the stock
 * single-threaded 'wasm' backend stays registered.
 */
export async function registerThreadedWasm(tf: Tf, threads: number, timeoutMs = 30000): Promise<number> {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) throw new Error(`threads must be 2..${MAX_WASM_THREADS}`);
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is unavailable');
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as WasmPackage;
  const files = moduleFiles();
  const factory = require(files.mainScript) as (config: object) => Promise<unknown>;

  const startup = startupGuard();
  const config = moduleConfig(files, threads, (e) => startup.fail(e));
  await startModule(factory, config, startup, timeoutMs);
  attachTfjsApi(config);
  const { backend, actual } = createBackend(wasmPkg, config, threads);

  // Kernels are registered per backend name, so re-registering 'wasm' keeps them all.
  if (tf.findBackendFactory('wasm') != null) tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => backend as ReturnType<Parameters<Tf['registerBackend']>[1]>, 2);
  return actual;
}
