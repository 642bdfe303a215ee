/** The system section of `gan doctor`: Node.js and npm, the CPU and its SIMD features, the GPUs on the PCI bus. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand } from './lookup';
import type { DoctorReport } from './report';

/** CPU model and the SIMD features that matter to the native addon, from /proc/cpuinfo (Linux). */
export function cpuInfo(cpuinfo?: string): DoctorReport['cpu'] {
  const cpus = os.cpus();
  const info: DoctorReport['cpu'] = {
    model: cpus[0]?.model?.trim() || 'unknown',
    threads: os.availableParallelism(),
    logicalCpus: cpus.length,
    featuresSource: 'unknown on this system (no /proc/cpuinfo)',
  };
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return info;
    }
  }
  const flagsLine = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  if (!flagsLine) return info;
  const flags = new Set(flagsLine.split(':')[1].trim().split(/\s+/));
  info.features = { avx2: flags.has('avx2'), avx512f: flags.has('avx512f'), fma: flags.has('fma') };
  info.featuresSource = '/proc/cpuinfo';
  return info;
}

const PCI_VENDORS: Record<string, string> = {
  '0x10de': 'NVIDIA',
  '0x1002': 'AMD',
  '0x8086': 'Intel',
  '0x1af4': 'virtio',
  '0x1234': 'QEMU',
};

/** GPUs as the PCI bus lists them (class 0x03xxxx: VGA, XGA, 3D controllers); Linux only. */
export function pciGpus(root = '/sys/bus/pci/devices'): DoctorReport['gpus'] {
  if (process.platform !== 'linux')
    return { ok: true, detail: `not listed on ${process.platform} (the webgpu adapter below names the GPU)`, devices: [] };
  const devices: DoctorReport['gpus']['devices'] = [];
  try {
    for (const d of fs.readdirSync(root)) {
      const read = (f: string) => fs.readFileSync(path.join(root, d, f), 'utf8').trim();
      if (!read('class').startsWith('0x03')) continue;
      const vendorId = read('vendor');
      devices.push({ vendor: PCI_VENDORS[vendorId] ?? vendorId, pciId: `${vendorId.slice(2)}:${read('device').slice(2)}` });
    }
  } catch {
    return { ok: false, detail: `cannot list PCI devices (${root})`, devices };
  }
  if (!devices.length) return { ok: false, detail: 'no GPU on the PCI bus: the GPU backends cannot run here', devices };
  return { ok: true, detail: devices.map((g) => `${g.vendor} [${g.pciId}]`).join(', '), devices };
}

export async function nodeAndNpm(timeoutMs: number, env: NodeJS.ProcessEnv): Promise<Pick<DoctorReport, 'node' | 'npm'>> {
  const major = Number(process.versions.node.split('.')[0]);
  const node: DoctorReport['node'] = {
    ok: major >= 20,
    detail: `${process.version} (${process.platform} ${process.arch})`,
    version: process.version,
    platform: process.platform,
    arch: process.arch,
    execPath: process.execPath,
  };
  if (!node.ok) node.fix = 'install Node.js 20 or newer (https://nodejs.org)';
  // Under npm (npx gan, npm run), npm says where its own CLI is; otherwise ask the one on PATH.
  const npmCli = env.npm_execpath && /npm-cli\.js$/.test(env.npm_execpath) ? env.npm_execpath : undefined;
  const r = npmCli
    ? await runCommand(process.execPath, [npmCli, '--version'], timeoutMs)
    : await runCommand('npm', ['--version'], timeoutMs);
  const version = r.stdout.trim().split('\n').pop();
  const npm: DoctorReport['npm'] =
    r.ok && version
      ? { ok: true, detail: version, version }
      : { ok: false, detail: `npm ${r.error ?? 'did not answer'}`, fix: 'install npm (it comes with Node.js); gan installs with npm ci' };
  return { node, npm };
}
