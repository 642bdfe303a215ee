import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { GifReader } from 'omggif';
import { loadBackend, probeWebGpuAdapter, type Tf } from '../src/backends';
import { loadGemmAddon } from '../src/backends/native/addon';
import { resolveTrainConfig, type TrainConfig } from '../src/config';
import { DenseStep } from '../src/train/dense-step';
import type { GanTrainer } from '../src/train/trainer';
import { SWIFTSHADER_ICD } from '../src/backends/doctor/webgpu';

/** Tests run on the embedded default backend, as users without a GPU do. */
export async function testTf(): Promise<Tf> {
  return (await loadBackend('wasm')).tf;
}

/**
 * The kernels the wasm backend runs in this process: our native addon's, or (addon not built, or
 * GAN_NATIVE=0) the wasm ones alone, as users without a C++ toolchain get. .ci/run runs the suite
 * on both; kernel tests name the stack in their titles, so the output says which one ran.
 */
export const KERNEL_STACK: 'native' | 'wasm' = loadGemmAddon() ? 'native' : 'wasm';

/** A kernel test's title, with the stack it runs on. */
export function onStack(title: string): string {
  return `${title} [${KERNEL_STACK === 'native' ? 'native addon' : 'wasm-only'} stack]`;
}

export function testConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return resolveTrainConfig({ seed: 1, ...overrides });
}

export function tmpDir(prefix = 'gan-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** SwiftShader, the CPU Vulkan driver of Debian's chromium package: a WebGPU adapter where there is no GPU. */
export { SWIFTSHADER_ICD };
/** The variables through which a user names Vulkan drivers: where one is set, the tests use what it names. */
const VULKAN_DRIVER_VARS = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES'];

let webGpuProbe: Promise<{ adapter?: string; skip?: string }> | undefined;

/**
 * The WebGPU adapter the webgpu tests run on: the machine's own (a GPU's Vulkan driver); else,
 * where the environment names no Vulkan driver and SwiftShader is installed, SwiftShader, which
 * runs every kernel on the CPU (slowly), so that the GPU path is tested on machines without a GPU.
 * The machine's own is asked first because the driver folders may hold manifests Dawn refuses
 * (Mesa's lavapipe here: "shaderUniform*ArrayDynamicIndexing required"). The choice is made in
 * this process's environment, which the CLI runs that the tests spawn inherit. Returns the
 * adapter's name, or `skip`: one line saying why there is none.
 */
export function webGpuForTests(): Promise<{ adapter?: string; skip?: string }> {
  webGpuProbe ??= (async () => {
    // The Vulkan loader wants a private runtime folder, and says so on stderr without one.
    process.env.XDG_RUNTIME_DIR ||= fs.mkdtempSync(path.join(os.tmpdir(), 'gan-xdg-'));
    let probe = await probeWebGpuAdapter();
    if (!probe.adapter && !VULKAN_DRIVER_VARS.some((k) => process.env[k]) && fs.existsSync(SWIFTSHADER_ICD)) {
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      probe = await probeWebGpuAdapter();
    }
    if (!probe.adapter) {
      const swiftShader = fs.existsSync(SWIFTSHADER_ICD) ? '' : ` and no SwiftShader (${SWIFTSHADER_ICD}, Debian's chromium)`;
      // CI installs chromium (and with it SwiftShader and libvulkan1): there the tier must run, not skip.
      if (process.env.CI) throw new Error(`the WebGPU tier cannot run in CI: no WebGPU adapter${swiftShader}: ${probe.error}`);
      return { skip: `no WebGPU adapter here${swiftShader}: ${probe.error}` };
    }
    const a = probe.adapter;
    return { adapter: [a.vendor, a.architecture, a.device].filter((x) => x !== undefined && x !== '').join(' ') || 'an unnamed adapter' };
  })();
  return webGpuProbe;
}

/** Copies of a list of tensors' values, to compare before and after a step. */
export function snapshot(tensors: Array<{ dataSync(): ArrayLike<number> }>): Float32Array[] {
  return tensors.map((t) => Float32Array.from(t.dataSync()));
}

export function changed(a: Float32Array, b: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return true;
  return false;
}

/** Every frame of a GIF as gray bytes (the red channel of the decoded RGBA). */
export function decodeGifFrames(bytes: Uint8Array): { width: number; height: number; frames: Uint8Array[]; delays: number[] } {
  const reader = new GifReader(Buffer.from(bytes));
  const frames: Uint8Array[] = [];
  const delays: number[] = [];
  const rgba = new Uint8Array(reader.width * reader.height * 4);
  for (let i = 0; i < reader.numFrames(); i++) {
    reader.decodeAndBlitFrameRGBA(i, rgba);
    const gray = new Uint8Array(reader.width * reader.height);
    for (let p = 0; p < gray.length; p++) gray[p] = rgba[4 * p];
    frames.push(gray);
    delays.push(reader.frameInfo(i).delay);
  }
  return { width: reader.width, height: reader.height, frames, delays };
}

/** max |got - want| over max |want|: how far a float32 result is from its float64 reference. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0,
    scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

/** The trainer's hand-written dense path (MLP runs), whose gradient functions the tests compare with autodiff. */
export function denseStep(trainer: GanTrainer): DenseStep {
  if (!(trainer.path instanceof DenseStep)) throw new Error('this trainer does not use the dense path');
  return trainer.path;
}

/**
 * `gan serve ARGS --port 0` as a child (e.g. `['--run', run]` or `['--web', site]`): the child
 * and the URL it printed, once it printed one (an error when it exits first or prints none in 60 s).
 */
export async function serveChild(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'gan.js');
  const child = spawn(process.execPath, [bin, 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gan serve printed no URL in 60 s: ${out} ${err}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`gan serve exited ${code}: ${err}`)));
  });
  return { child, url };
}

/**
 * A test's child script (node SCRIPT ARGS) that prints one line `TAG <json>`: that JSON, once
 * the child exits 0 (else an error with its stderr). A child because tfjs runs one backend per
 * process and such tests compare or use another.
 */
export function childJson<T>(script: string, args: string[], tag: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(`${tag} `));
      if (code !== 0 || !line) return reject(new Error(`${path.basename(script)} ${args.join(' ')} exited ${code}: ${stderr}`));
      resolve(JSON.parse(line.slice(tag.length + 1)) as T);
    });
  });
}
