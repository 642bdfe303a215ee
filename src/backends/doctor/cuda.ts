/**
 * The tensorflow-gpu section of `gan doctor`: @tensorflow/tfjs-node-gpu, its libtensorflow and
 * binding, the CUDA and cuDNN libraries libtensorflow opens, the NVIDIA driver and nvidia-smi.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TFJS_VERSION } from '../index';
import { findLibraries, installedPackage, runCommand } from './lookup';
import type { DoctorReport, Finding, LibraryFinding } from './report';

/** Libraries libtensorflow 2.9.1 (tfjs-node-gpu 4.22) opens at run time: CUDA 11.2 and cuDNN 8.1. */
export const CUDA_LIBRARIES = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
];
export const CUDNN_LIBRARIES = ['libcudnn.so.8'];

const GPU_PKG = '@tensorflow/tfjs-node-gpu';
const GPU_INSTALL = `npm install ${GPU_PKG}@${TFJS_VERSION}`;

function libraryFinding(libs: LibraryFinding[], what: string, fix: string): Finding & { libraries: LibraryFinding[] } {
  const missing = libs.filter((l) => !l.found).map((l) => l.name);
  if (!missing.length) return { ok: true, detail: `${what}: all found (${libs.map((l) => l.path).join(', ')})`, libraries: libs };
  return { ok: false, detail: `${what}: not found by the loader: ${missing.join(', ')}`, fix, libraries: libs };
}

export async function tensorflowGpu(timeoutMs: number, env: NodeJS.ProcessEnv): Promise<DoctorReport['tensorflowGpu']> {
  return {
    ...packageFindings(),
    ...(await cudaLibraryFindings(timeoutMs, env)),
    driver: driverFinding(),
    nvidiaSmi: await nvidiaSmiFinding(timeoutMs),
  };
}

/** The npm package, the libtensorflow its install script downloads, and the binding it builds. */
function packageFindings(): Pick<DoctorReport['tensorflowGpu'], 'package' | 'libtensorflow' | 'binding'> {
  const pkg = installedPackage(GPU_PKG);
  const rebuild = `npm rebuild ${GPU_PKG} (it downloads libtensorflow 2.9.1; newer npm: npm install-scripts approve ${GPU_PKG} first; an unreachable download host: set TFJS_NODE_CDN_STORAGE to a mirror)`;
  const packageF: DoctorReport['tensorflowGpu']['package'] = pkg
    ? { ok: true, detail: `${GPU_PKG} ${pkg.version} in ${pkg.folder}`, version: pkg.version, folder: pkg.folder }
    : {
        ok: false,
        detail: `${GPU_PKG} is not installed (its install needs to download libtensorflow; when that fails npm drops it)`,
        fix: `${GPU_INSTALL} (an unreachable download host: set TFJS_NODE_CDN_STORAGE to a mirror of the libtensorflow archives)`,
      };
  const libName =
    process.platform === 'win32' ? 'tensorflow.dll' : process.platform === 'darwin' ? 'libtensorflow.2.dylib' : 'libtensorflow.so.2';
  const libPath = pkg ? path.join(pkg.folder, 'deps', 'lib', libName) : undefined;
  const libtensorflow: DoctorReport['tensorflowGpu']['libtensorflow'] = !pkg
    ? { ok: false, detail: 'comes with the package, which is not installed', fix: packageF.fix }
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
    ? { ok: false, detail: 'comes with the package, which is not installed', fix: packageF.fix }
    : bindingPath
      ? { ok: true, detail: bindingPath, path: bindingPath }
      : {
          ok: false,
          detail: `no tfjs_binding.node under ${path.join(pkg.folder, 'lib')}: the install script did not run or failed`,
          fix: rebuild,
        };

  return { package: packageF, libtensorflow, binding };
}

/** The CUDA 11.2 and cuDNN 8.1 libraries libtensorflow 2.9 links against, as the loader finds them. */
async function cudaLibraryFindings(
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Promise<Pick<DoctorReport['tensorflowGpu'], 'cuda' | 'cudnn'>> {
  const linux = process.platform === 'linux';
  const libs = linux ? await findLibraries([...CUDA_LIBRARIES, ...CUDNN_LIBRARIES], timeoutMs, env) : [];
  const cuda = linux
    ? libraryFinding(
        libs.filter((l) => CUDA_LIBRARIES.includes(l.name)),
        'CUDA 11.2 libraries',
        'install the CUDA 11 runtime libraries (CUDA 11.2 or a later 11.x: cudart, cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE) and make them visible to the loader (ldconfig, or LD_LIBRARY_PATH); CUDA 12 or 13 libraries do not satisfy libtensorflow 2.9',
      )
    : {
        ok: false,
        detail: `tfjs-node-gpu has no CUDA build for ${process.platform}`,
        fix: 'use Linux (or Windows) with an NVIDIA GPU, or --backend webgpu',
        libraries: [],
      };
  const cudnn = linux
    ? libraryFinding(
        libs.filter((l) => CUDNN_LIBRARIES.includes(l.name)),
        'cuDNN 8.1 library',
        'install cuDNN 8 for CUDA 11 (libcudnn.so.8, 8.1 or later 8.x) and make it visible to the loader (ldconfig, or LD_LIBRARY_PATH)',
      )
    : {
        ok: false,
        detail: `not applicable on ${process.platform}`,
        fix: 'use Linux (or Windows) with an NVIDIA GPU, or --backend webgpu',
        libraries: [],
      };

  return { cuda, cudnn };
}

function driverFinding(): DoctorReport['tensorflowGpu']['driver'] {
  let driver: DoctorReport['tensorflowGpu']['driver'];
  try {
    const text = fs.readFileSync('/proc/driver/nvidia/version', 'utf8');
    const m = /Kernel Module\s+(?:for\s+\S+\s+)?([0-9][0-9.]*)/.exec(text) ?? /([0-9]{3,}\.[0-9.]+)/.exec(text);
    driver = { ok: true, detail: m ? `NVIDIA driver ${m[1]}` : text.split('\n')[0].trim(), version: m?.[1] };
  } catch {
    driver = {
      ok: false,
      detail: 'no NVIDIA driver loaded (/proc/driver/nvidia/version is absent)',
      fix: 'on a machine with an NVIDIA GPU, install the NVIDIA driver (450.80 or newer for CUDA 11)',
    };
  }
  return driver;
}

async function nvidiaSmiFinding(timeoutMs: number): Promise<DoctorReport['tensorflowGpu']['nvidiaSmi']> {
  const smi = await runCommand('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], timeoutMs);
  const nvidiaSmi: DoctorReport['tensorflowGpu']['nvidiaSmi'] = smi.ok
    ? { ok: true, detail: smi.stdout.trim().split('\n').join('; '), gpus: smi.stdout.trim().split('\n') }
    : {
        ok: false,
        detail: `nvidia-smi ${smi.error === 'not found' ? 'is not on PATH' : `failed: ${smi.error}`}`,
        fix:
          smi.error === 'not found'
            ? 'it comes with the NVIDIA driver; install the driver'
            : 'check the NVIDIA driver installation (nvidia-smi should list the GPU)',
      };
  return nvidiaSmi;
}
