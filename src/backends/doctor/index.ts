/**
 * `gan doctor`: what this machine can run, and for each piece that is missing, why and the fix.
 *
 * It never fails on a missing piece: every check catches its own errors and reports them. Each
 * check is bounded in time: backends load in child processes with a time limit (src/backends/probe.ts;
 * tfjs allows one backend family per process, and a broken driver can hang or crash), and
 * commands (npm, ldconfig, nvidia-smi) run with a timeout. This folder gathers; the command
 * (src/commands/doctor.ts) prints.
 *
 * A file per section of the report: system.ts (node, npm, CPU, PCI GPUs), backends.ts (the native
 * addon and each backend, in child processes), cuda.ts (tensorflow-gpu: CUDA and cuDNN), webgpu.ts
 * (Dawn and Vulkan), missing.ts (the summary of fixes); lookup.ts runs commands and finds packages
 * and libraries; report.ts holds the report's types. This file runs them all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendName } from '../index';
import { ADDON_PATH } from '../../util/paths';
import { backendFinding, nativeAddon } from './backends';
import { tensorflowGpu } from './cuda';
import { packageFolder } from './lookup';
import { collectMissing } from './missing';
import type { BackendFinding, DoctorOptions, DoctorReport, Finding } from './report';
import { cpuInfo, nodeAndNpm, pciGpus } from './system';
import { webgpuSection } from './webgpu';

export type { BackendFinding, DoctorOptions, DoctorReport, Finding, LibraryFinding } from './report';
export { CUDA_LIBRARIES, CUDNN_LIBRARIES } from './cuda';
export { findLibraries, runCommand } from './lookup';
export { cpuInfo, pciGpus } from './system';

/** The order of `gan doctor`'s backend table: the GPU paths first, as `auto` tries them. */
export const DOCTOR_BACKENDS: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];
/**
 * The order in which `auto` takes backends. webgpu is left out: auto takes it only on a real GPU
 * that a calibration of the run's workload measured faster (src/backends/auto.ts), which the
 * doctor does not run.
 */
const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Runs `fn`, turning a throw into `fallback(message)`: no single check can fail the report. */
async function safely<T>(fn: () => Promise<T> | T, fallback: (message: string) => T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return fallback((e as Error).message.split('\n')[0]);
  }
}

/** The slow checks, in parallel: Node and npm, the addon, tfjs-node-gpu's pieces, and each backend in a child process. */
function probeInParallel(env: NodeJS.ProcessEnv, backendMs: number, commandMs: number, failed: (detail: string) => Finding) {
  // Backends load in parallel children: each is bounded by its own time limit.
  const backendsP = Promise.all(
    DOCTOR_BACKENDS.map((name) =>
      safely(
        () => backendFinding(name, backendMs),
        (m): BackendFinding => ({
          name,
          ok: false,
          error: `the check itself failed: ${m}`,
          fix: 'report this as a bug of gan doctor',
          ms: 0,
        }),
      ),
    ),
  );
  return Promise.all([
    safely(
      () => nodeAndNpm(commandMs, env),
      (m) => ({
        node: { ...failed(m), version: process.version, platform: process.platform, arch: process.arch, execPath: process.execPath },
        npm: failed(m),
      }),
    ),
    safely(
      () => nativeAddon(commandMs),
      (m) => ({ ...failed(m), built: false, loads: false, path: ADDON_PATH }),
    ),
    safely(
      () => tensorflowGpu(commandMs, env),
      (m) => ({
        package: failed(m),
        libtensorflow: failed(m),
        binding: failed(m),
        cuda: { ...failed(m), libraries: [] },
        cudnn: { ...failed(m), libraries: [] },
        driver: failed(m),
        nvidiaSmi: failed(m),
      }),
    ),
    backendsP,
  ]);
}

/** gan's own version, from its package.json. */
function ganVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageFolder(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const started = Date.now();
  const env = opts.env ?? process.env;
  const backendMs = opts.backendTimeoutMs ?? 60_000;
  const commandMs = opts.commandTimeoutMs ?? 15_000;
  const failed = (detail: string): Finding => ({
    ok: false,
    detail: `the check itself failed: ${detail}`,
    fix: 'report this as a bug of gan doctor',
  });

  const [{ node, npm }, nativeAddonF, tensorflowGpuF, backends] = await probeInParallel(env, backendMs, commandMs, failed);
  const webgpuBackend = backends.find((b) => b.name === 'webgpu')!;
  const webgpu = await safely(
    () => webgpuSection(commandMs, env, webgpuBackend),
    (m) => ({ packages: { ...failed(m), versions: {} }, dawnNode: failed(m), adapter: failed(m), uploadFix: failed(m) }),
  );
  const gpus = await safely(
    () => pciGpus(),
    (m) => ({ ...failed(m), devices: [] }),
  );
  const cpu = await safely(
    () => cpuInfo(),
    () => ({ model: 'unknown', threads: 1, logicalCpus: 1, featuresSource: 'the check failed' }),
  );
  const autoPicks = AUTO_ORDER.find((name) => backends.find((b) => b.name === name)?.ok);
  // The adapter's info travels in the webgpu section; the table keeps one shape for every backend.
  const table: BackendFinding[] = backends.map(({ name, ok, notice, computes, error, fix, ms }) => ({
    name,
    ok,
    notice,
    computes,
    error,
    fix,
    ms,
  }));
  const partial = {
    gan: { version: ganVersion(), folder: packageFolder() },
    node,
    npm,
    gpus,
    cpu,
    nativeAddon: nativeAddonF,
    backends: table,
    autoPicks,
    tensorflowGpu: tensorflowGpuF,
    webgpu,
  };
  return { ...partial, missing: collectMissing(partial), ms: Date.now() - started };
}
