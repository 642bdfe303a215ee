/** `gan doctor`: prints what src/backends/doctor/ found, as text or (--json) one JSON object. Exits 0. */
import { runDoctor, type DoctorReport, type Finding } from '../backends/doctor';

export interface DoctorCommandOptions {
  json: boolean;
  log?: (line: string) => void;
}

function mark(ok: boolean): string {
  return ok ? 'ok  ' : 'MISSING';
}

function line(label: string, f: Finding | undefined): string[] {
  if (!f) return [];
  return [
    `  ${label.padEnd(16)} ${mark(f.ok).padEnd(8)}${f.detail}`,
    ...(f.ok || !f.fix ? [] : [`  ${''.padEnd(16)} ${''.padEnd(8)}fix: ${f.fix}`]),
  ];
}

export function formatDoctor(r: DoctorReport): string[] {
  const out: string[] = [`gan doctor: what this machine can run (gan ${r.gan.version}, ${r.gan.folder})`, ''];
  out.push('system');
  out.push(...line('node', r.node), ...line('npm', r.npm), ...line('GPU', { ...r.gpus, fix: undefined }));
  const f = r.cpu.features;
  const feats = f
    ? `AVX2 ${f.avx2 ? 'yes' : 'no'}, AVX-512 ${f.avx512f ? 'yes' : 'no'}, FMA ${f.fma ? 'yes' : 'no'}`
    : r.cpu.featuresSource;
  out.push(
    `  ${'cpu'.padEnd(16)} ${''.padEnd(8)}${r.cpu.model}; ${r.cpu.threads} threads usable (${r.cpu.logicalCpus} logical CPUs); ${feats}`,
  );
  out.push('', 'native addon (matrix products, convolutions and Adam on the CPU)');
  out.push(...line('gemm.node', r.nativeAddon));
  out.push('', `backends (auto takes: ${r.autoPicks ?? 'none'}; webgpu only when named: not yet measured faster)`);
  for (const b of r.backends) {
    out.push(
      `  ${b.name.padEnd(16)} ${(b.ok ? 'loads' : 'no').padEnd(8)}${b.ok ? (b.notice ?? '').replace(/^backend: [^,]+, /, '').replace(/; for an NVIDIA GPU:.*$/, '') : b.error}`,
    );
    if (!b.ok && b.fix) out.push(`  ${''.padEnd(16)} ${''.padEnd(8)}fix: ${b.fix}`);
  }
  const g = r.tensorflowGpu;
  out.push('', 'tensorflow-gpu (@tensorflow/tfjs-node-gpu: libtensorflow 2.9.1, CUDA 11.2, cuDNN 8.1)');
  out.push(...line('package', g.package), ...line('libtensorflow', g.libtensorflow), ...line('binding', g.binding));
  out.push(...line('CUDA', g.cuda), ...line('cuDNN', g.cudnn), ...line('NVIDIA driver', g.driver), ...line('nvidia-smi', g.nvidiaSmi));
  const w = r.webgpu;
  out.push('', 'webgpu (@tensorflow/tfjs-backend-webgpu on Dawn, the webgpu package)');
  out.push(
    ...line('packages', w.packages),
    ...line('dawn.node', w.dawnNode),
    ...line('Vulkan loader', w.vulkanLoader),
    ...line('Vulkan driver', w.vulkanDrivers),
  );
  out.push(...line('adapter', w.adapter), ...line('upload fix', w.uploadFix));
  out.push('');
  const missing = r.missing;
  if (missing.length) {
    const noGpu =
      r.gpus.devices.length === 0 && !r.gpus.ok ? '; there is no GPU here, so the GPU pieces matter only on a machine with one' : '';
    out.push(
      `${missing.length} missing piece${missing.length > 1 ? 's' : ''}${r.autoPicks ? ` (gan trains on ${r.autoPicks} here${noGpu})` : ''}:`,
    );
    for (const m of missing) out.push(`  - ${m.what}: ${m.fix}`);
  } else {
    out.push('nothing missing');
  }
  out.push(`(checked in ${(r.ms / 1000).toFixed(1)} s)`);
  return out;
}

export async function doctorCommand(opts: DoctorCommandOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const report = await runDoctor();
  if (opts.json) log(JSON.stringify(report, null, 2));
  else for (const l of formatDoctor(report)) log(l);
}
