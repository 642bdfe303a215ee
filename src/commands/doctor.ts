/** `gan doctor`: prints what src/backends/doctor/ found, as text or (--json) one JSON object. Exits 0. */
import { runDoctor, type DoctorReport, type Finding } from '../backends/doctor';
import { REQUIRED_BACKENDS } from '../backends/doctor/missing';

export interface DoctorCommandOptions {
  json: boolean;
  log?: (line: string) => void;
}

/**
 * One finding. A required piece that is not there is MISSING with its fix; an optional one
 * (the GPU paths, which a CPU machine trains without) is only absent, with the way to add it.
 */
function line(label: string, f: Finding | undefined, optional = false, shown?: Set<string>): string[] {
  if (!f) return [];
  const mark = f.ok ? 'ok' : optional ? 'absent' : 'MISSING';
  // A fix shown just above for another piece of the same section (the package that brings them all) is not repeated.
  const repeated = f.fix !== undefined && shown?.has(f.fix);
  if (f.fix) shown?.add(f.fix);
  const fix = f.ok || !f.fix || repeated ? [] : [`  ${''.padEnd(16)} ${''.padEnd(8)}${optional ? 'to add' : 'fix'}: ${f.fix}`];
  return [`  ${label.padEnd(16)} ${mark.padEnd(8)}${f.detail}`, ...fix];
}

/** The first line: whether gan can train here, and on what. */
function verdict(r: DoctorReport): string {
  const picked = r.backends.find((b) => b.name === r.autoPicks);
  if (!picked) return 'not ready: no backend loads here (the fixes are at the end)';
  const required = r.missing.filter((m) => !m.optional).length;
  const caveat = required ? `; ${required} piece${required > 1 ? 's' : ''} of it missing, see the end` : '';
  return `ready: trains on ${picked.name}${picked.notice ? `, ${picked.notice}` : ''}${caveat}`;
}

function systemSection(r: DoctorReport): string[] {
  const f = r.cpu.features;
  const feats = f
    ? `AVX2 ${f.avx2 ? 'yes' : 'no'}, AVX-512 ${f.avx512f ? 'yes' : 'no'}, FMA ${f.fma ? 'yes' : 'no'}`
    : r.cpu.featuresSource;
  return [
    'system',
    ...line('node', r.node),
    ...line('npm', r.npm),
    ...line('GPU', { ...r.gpus, fix: undefined }, true),
    `  ${'cpu'.padEnd(16)} ${''.padEnd(8)}${r.cpu.model}; ${r.cpu.threads} threads usable (${r.cpu.logicalCpus} logical CPUs); ${feats}`,
    '',
    'native addon (matrix products, convolutions and Adam on the CPU)',
    ...line('gemm.node', r.nativeAddon),
  ];
}

function backendsSection(r: DoctorReport): string[] {
  const out = [`backends (auto takes: ${r.autoPicks ?? 'none'}; webgpu only on a real GPU that gan train calibrated faster)`];
  for (const b of r.backends) {
    const optional = !REQUIRED_BACKENDS.includes(b.name);
    out.push(`  ${b.name.padEnd(16)} ${(b.ok ? 'loads' : optional ? 'absent' : 'MISSING').padEnd(8)}${b.ok ? (b.notice ?? '') : b.error}`);
    if (!b.ok && b.fix) out.push(`  ${''.padEnd(16)} ${''.padEnd(8)}${optional ? 'to add' : 'fix'}: ${b.fix}`);
  }
  return out;
}

/** A section of optional pieces: what each is, and the way to add it (said once per section). */
function optionalSection(title: string, rows: Array<[string, Finding | undefined]>): string[] {
  const shown = new Set<string>();
  return [title, ...rows.flatMap(([label, f]) => line(label, f, true, shown))];
}

function gpuSections(r: DoctorReport): string[] {
  const g = r.tensorflowGpu;
  const w = r.webgpu;
  return [
    ...optionalSection('tensorflow-gpu, optional (@tensorflow/tfjs-node-gpu: libtensorflow 2.9.1, CUDA 11.2, cuDNN 8.1)', [
      ['package', g.package],
      ['libtensorflow', g.libtensorflow],
      ['binding', g.binding],
      ['CUDA', g.cuda],
      ['cuDNN', g.cudnn],
      ['NVIDIA driver', g.driver],
      ['nvidia-smi', g.nvidiaSmi],
    ]),
    '',
    ...optionalSection('webgpu, optional (@tensorflow/tfjs-backend-webgpu on Dawn, the webgpu package)', [
      ['packages', w.packages],
      ['dawn.node', w.dawnNode],
      ['Vulkan loader', w.vulkanLoader],
      ['Vulkan driver', w.vulkanDrivers],
      ['adapter', w.adapter],
      ['driver in use', w.driver],
      ['upload fix', w.uploadFix],
    ]),
  ];
}

/** The end: what the default path lacks (with fixes), then the optional pieces, said once. */
function summary(r: DoctorReport): string[] {
  const required = r.missing.filter((m) => !m.optional);
  const optional = r.missing.filter((m) => m.optional);
  const out: string[] = [];
  if (required.length) {
    out.push(`missing (${required.length}):`);
    for (const m of required) out.push(`  - ${m.what}: ${m.fix}`);
  } else {
    out.push(`nothing missing${r.autoPicks ? ` for training on ${r.autoPicks}` : ''}`);
  }
  if (optional.length) {
    const noGpu = r.gpus.devices.length === 0 && !r.gpus.ok;
    out.push(
      noGpu
        ? `optional: ${optional.length} GPU or native-TensorFlow piece${optional.length > 1 ? 's are' : ' is'} absent, each with the way to add it above; this machine has no GPU, so they matter only on one that has`
        : `optional, for a faster backend (${optional.length}):`,
    );
    if (!noGpu) for (const m of optional) out.push(`  - ${m.what}: ${m.fix}`);
  }
  return out;
}

export function formatDoctor(r: DoctorReport): string[] {
  return [
    verdict(r),
    `gan ${r.gan.version} in ${r.gan.folder}; what this machine can run:`,
    '',
    ...systemSection(r),
    '',
    ...backendsSection(r),
    '',
    ...gpuSections(r),
    '',
    ...summary(r),
    `(checked in ${(r.ms / 1000).toFixed(1)} s)`,
  ];
}

export async function doctorCommand(opts: DoctorCommandOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const report = await runDoctor();
  if (opts.json) log(JSON.stringify(report, null, 2));
  else for (const l of formatDoctor(report)) log(l);
}
