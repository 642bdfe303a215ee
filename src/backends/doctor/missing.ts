/** The summary at the end of `gan doctor`: every missing piece with its fix, one line per fix. */
import type { DoctorReport, Finding } from './report';

/** The backends the default CPU path needs; the others are optional (a GPU path, or tfjs-node). */
export const REQUIRED_BACKENDS = ['wasm'];

/** Every not-ok finding, with its fix, for the summary at the end. */
export function collectMissing(r: Omit<DoctorReport, 'missing' | 'ms'>): DoctorReport['missing'] {
  const out: DoctorReport['missing'] = [];
  // One line per fix: several findings often share one cause (no Vulkan loader: no adapter).
  let optional = false;
  const add = (what: string, f: Finding | undefined) => {
    if (f && !f.ok && f.fix && !out.some((m) => m.fix === f.fix)) out.push({ what, detail: f.detail, fix: f.fix, optional });
  };
  add('node', r.node);
  add('npm', r.npm);
  add('native addon', r.nativeAddon);
  for (const b of r.backends) {
    optional = !REQUIRED_BACKENDS.includes(b.name);
    if (!/^see the/.test(b.fix ?? '')) add(`backend ${b.name}`, { ok: b.ok, detail: b.error ?? 'does not load', fix: b.fix });
  }
  optional = true;
  const g = r.tensorflowGpu;
  add('tfjs-node-gpu package', g.package);
  if (g.package.ok) {
    add('libtensorflow', g.libtensorflow);
    add('tfjs-node-gpu binding', g.binding);
  }
  add('CUDA 11.2', g.cuda);
  add('cuDNN 8.1', g.cudnn);
  add('NVIDIA driver', g.driver);
  if (g.driver.ok) add('nvidia-smi', g.nvidiaSmi);
  const w = r.webgpu;
  add('webgpu packages', w.packages);
  if (w.packages.ok) add('dawn.node', w.dawnNode);
  add('Vulkan loader', w.vulkanLoader);
  add('Vulkan driver', w.vulkanDrivers);
  add('WebGPU adapter', w.adapter);
  add('Vulkan driver in use', w.driver);
  if (w.packages.ok) add('WebGPU upload fix', w.uploadFix);
  return out;
}
