/**
 * The webgpu section of `gan doctor`: the packages, Dawn's dawn.node, on Linux the Vulkan loader
 * and drivers (ICD files), the adapter the backend check found, and our upload fix.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WEBGPU_INSTALL } from '../index';
import { WEBGPU_UPLOAD_FIX_VERSION } from '../webgpu/upload';
import { softwareAdapter } from '../auto';
import { findLibraries, installedPackage } from './lookup';
import type { BackendFinding, DoctorReport, Finding } from './report';

/** SwiftShader, the CPU Vulkan driver of Debian's chromium package: a WebGPU adapter (for tests) where there is no GPU. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Vulkan drivers' ICD manifests in the loader's default folders, and the variables that override them. */
function vulkanIcds(env: NodeJS.ProcessEnv): { icdFiles: string[]; env: Record<string, string> } {
  const dirs = [
    '/usr/share/vulkan/icd.d',
    '/usr/local/share/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    path.join(os.homedir(), '.local/share/vulkan/icd.d'),
  ];
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

export async function webgpuSection(
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  webgpuBackend: BackendFinding & { adapter?: Record<string, string | number | boolean> },
): Promise<DoctorReport['webgpu']> {
  const tfjsWebgpu = installedPackage('@tensorflow/tfjs-backend-webgpu');
  const { packages, dawnNode } = packageFindings(tfjsWebgpu);
  const { vulkanLoader, vulkanDrivers } = await vulkanFindings(timeoutMs, env);
  const adapter = adapterFinding(webgpuBackend, vulkanLoader, vulkanDrivers);
  const driver = process.platform === 'linux' ? driverFinding(adapter, env, fs.existsSync(SWIFTSHADER_ICD)) : undefined;
  return { packages, dawnNode, vulkanLoader, vulkanDrivers, adapter, driver, uploadFix: uploadFixFinding(tfjsWebgpu, env) };
}

/** tfjs-backend-webgpu and the webgpu package, and the dawn.node it ships for this platform. */
function packageFindings(tfjsWebgpu: ReturnType<typeof installedPackage>): Pick<DoctorReport['webgpu'], 'packages' | 'dawnNode'> {
  const versions: Record<string, string | null> = {};
  const dawn = installedPackage('webgpu');
  versions['@tensorflow/tfjs-backend-webgpu'] = tfjsWebgpu?.version ?? null;
  versions.webgpu = dawn?.version ?? null;
  const packages: DoctorReport['webgpu']['packages'] =
    tfjsWebgpu && dawn
      ? { ok: true, detail: `@tensorflow/tfjs-backend-webgpu ${tfjsWebgpu.version}, webgpu ${dawn.version}`, versions }
      : {
          ok: false,
          detail: `not installed: ${[tfjsWebgpu ? '' : '@tensorflow/tfjs-backend-webgpu', dawn ? '' : 'webgpu'].filter(Boolean).join(', ')} (optional dependencies; npm ci installs them where it can)`,
          fix: WEBGPU_INSTALL,
          versions,
        };
  const platformDir = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
  const dawnPath = dawn ? path.join(dawn.folder, 'dist', platformDir, 'dawn.node') : undefined;
  const dawnNode: DoctorReport['webgpu']['dawnNode'] = !dawn
    ? { ok: false, detail: 'comes with the webgpu package, which is not installed', fix: WEBGPU_INSTALL }
    : fs.existsSync(dawnPath!)
      ? { ok: true, detail: dawnPath!, path: dawnPath }
      : {
          ok: false,
          detail: `webgpu ${dawn.version} ships no dawn.node for ${platformDir}`,
          fix: 'WebGPU in Node runs on linux-x64, linux-arm64, darwin, win32-x64 and win32-arm64; use the CPU path (wasm) here',
          path: dawnPath,
        };

  return { packages, dawnNode };
}

/** Linux: the Vulkan loader and the driver manifests it would read. */
async function vulkanFindings(
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Promise<Pick<DoctorReport['webgpu'], 'vulkanLoader' | 'vulkanDrivers'>> {
  let vulkanLoader: DoctorReport['webgpu']['vulkanLoader'];
  let vulkanDrivers: DoctorReport['webgpu']['vulkanDrivers'];
  if (process.platform === 'linux') {
    const [loader] = await findLibraries(['libvulkan.so.1'], timeoutMs, env);
    vulkanLoader = loader.found
      ? { ok: true, detail: `libvulkan.so.1 at ${loader.path}`, path: loader.path }
      : {
          ok: false,
          detail: 'libvulkan.so.1 (the Vulkan loader) is not found by the loader; Dawn runs on Vulkan on Linux',
          fix: 'install the Vulkan loader (Debian/Ubuntu: apt-get install -y libvulkan1; without root: unpack it with dpkg -x and add its lib folder to LD_LIBRARY_PATH)',
        };
    const icds = vulkanIcds(env);
    const listed = [...icds.icdFiles, ...Object.entries(icds.env).map(([k, v]) => `${k}=${v}`)];
    vulkanDrivers = listed.length
      ? { ok: true, detail: listed.join(', '), ...icds }
      : {
          ok: false,
          detail: 'no Vulkan driver manifest (ICD file) in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d, ... and no VK_DRIVER_FILES',
          fix: "install your GPU's Vulkan driver (NVIDIA: the driver's nvidia_icd.json, often under /usr/share/vulkan/icd.d or /etc/vulkan/icd.d; in containers it may sit elsewhere, e.g. /usr/local/nvidia/share/vulkan/icd.d: point VK_DRIVER_FILES at it)",
          ...icds,
        };
  }

  return { vulkanLoader, vulkanDrivers };
}

/** The adapter the backend probe found, or the fix for the first missing piece below it. */
function adapterFinding(
  webgpuBackend: BackendFinding & { adapter?: Record<string, string | number | boolean> },
  vulkanLoader: DoctorReport['webgpu']['vulkanLoader'],
  vulkanDrivers: DoctorReport['webgpu']['vulkanDrivers'],
): DoctorReport['webgpu']['adapter'] {
  let adapter: DoctorReport['webgpu']['adapter'];
  if (webgpuBackend.ok) {
    const info = webgpuBackend.adapter ?? {};
    const named = ['vendor', 'architecture', 'device', 'description']
      .map((k) => info[k])
      .filter((v) => v !== undefined && v !== '')
      .join(' ');
    adapter = { ok: true, detail: named || 'an adapter (no info)', info };
  } else {
    const error = webgpuBackend.error ?? 'unknown';
    let fix: string;
    if (/not installed/.test(error)) fix = WEBGPU_INSTALL;
    else if (vulkanLoader && !vulkanLoader.ok) fix = vulkanLoader.fix!;
    else if (vulkanDrivers && !vulkanDrivers.ok) fix = vulkanDrivers.fix!;
    else
      fix =
        'WebGPU needs a GPU and its driver: Vulkan on Linux, Metal on macOS, D3D12 on Windows. Without a GPU, train on the CPU (--backend wasm, the default)';
    adapter = { ok: false, detail: `none: ${error}`, fix };
  }

  return adapter;
}

/** How to get a (software) adapter for testing on a machine without a GPU. */
export function swiftShaderFix(installed: boolean): string {
  const point = `point Vulkan at SwiftShader: VK_ICD_FILENAMES=${SWIFTSHADER_ICD} XDG_RUNTIME_DIR=/tmp npx gan doctor`;
  return installed
    ? `to test the webgpu path without a GPU, ${point}`
    : `to test the webgpu path without a GPU: apt-get install chromium (it ships SwiftShader), then ${point}`;
}

/**
 * The Vulkan driver in use (Linux): the adapter's info names it, the variables name its ICD file.
 * A software driver works, but on the CPU: fine for tests, not for speed. Exported for the tests.
 */
export function driverFinding(
  adapter: DoctorReport['webgpu']['adapter'],
  env: NodeJS.ProcessEnv,
  swiftShaderInstalled: boolean,
): NonNullable<DoctorReport['webgpu']['driver']> {
  const variable = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES'].find((k) => env[k]);
  const icd = variable ? env[variable] : undefined;
  const from = icd ? `, ICD ${icd} (${variable})` : ', ICD from the default folders';
  if (!adapter.ok || !adapter.info)
    return {
      ok: false,
      detail: `none gives Dawn an adapter${icd ? ` (${variable}=${icd})` : ''}`,
      fix: swiftShaderFix(swiftShaderInstalled),
      icd,
    };
  const software = softwareAdapter(adapter.info);
  const what = software ? `software (${software}): fine for tests, not for speed` : 'a GPU';
  return { ok: true, detail: `${adapter.detail}${from}: ${what}`, software, icd };
}

function uploadFixFinding(tfjsWebgpu: ReturnType<typeof installedPackage>, env: NodeJS.ProcessEnv): Finding {
  const fixOff = env.GAN_WEBGPU_UPLOAD_FIX === '0';
  const uploadFix: Finding = !tfjsWebgpu
    ? { ok: false, detail: 'n/a (tfjs-backend-webgpu is not installed)', fix: WEBGPU_INSTALL }
    : fixOff
      ? { ok: true, detail: 'switched off by GAN_WEBGPU_UPLOAD_FIX=0 (tfjs uploads each CPU tensor through a buffer mapped at creation)' }
      : tfjsWebgpu.version === WEBGPU_UPLOAD_FIX_VERSION
        ? { ok: true, detail: `applies to tfjs-backend-webgpu ${tfjsWebgpu.version} (uploads by queue.writeBuffer into pooled buffers)` }
        : {
            ok: false,
            detail: `not applied: written for ${WEBGPU_UPLOAD_FIX_VERSION}, installed ${tfjsWebgpu.version}; each CPU-made tensor then costs about 1 ms to upload`,
            fix: `npm install @tensorflow/tfjs-backend-webgpu@${WEBGPU_UPLOAD_FIX_VERSION}`,
          };
  return uploadFix;
}
