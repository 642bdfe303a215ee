/** The shape of `gan doctor`'s report (--json prints it as is), and of its options. */
import type { BackendName } from '../index';

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
  /** What runs, in full, when it loads (LoadedBackend.detail). */
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
  cpu: {
    model: string;
    threads: number;
    logicalCpus: number;
    features?: { avx2: boolean; avx512f: boolean; fma: boolean };
    featuresSource: string;
  };
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
    /**
     * The Vulkan driver behind the adapter (Linux): named from the adapter's info, with the ICD file
     * VK_DRIVER_FILES / VK_ICD_FILENAMES point at; `software` names a CPU driver (SwiftShader, llvmpipe).
     */
    driver?: Finding & { software?: string; icd?: string };
    uploadFix: Finding;
  };
  /**
   * Every missing piece with its fix, in the order above. `optional`: a piece of a GPU path
   * (tfjs-node-gpu and CUDA, WebGPU) or of tfjs-node, which the default CPU path does not need.
   */
  missing: Array<{ what: string; detail: string; fix: string; optional: boolean }>;
  ms: number;
}

export interface DoctorOptions {
  /** Time limit of each backend check, in ms (default 60 s). */
  backendTimeoutMs?: number;
  /** Time limit of each command run (npm, ldconfig, nvidia-smi), in ms (default 15 s). */
  commandTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}
