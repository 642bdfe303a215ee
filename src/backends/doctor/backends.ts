/**
 * The native addon and each backend, loaded in a child process with a time limit
 * (src/backends/probe.ts): whether it loads and computes, and when not, why and the fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TFJS_VERSION, type BackendName } from '../index';
import { ADDON_PATH } from '../../util/paths';
import type { AddonProbe, BackendProbe } from '../probe';
import { runProbe } from '../probe-runner';
import { packageFolder, runCommand } from './lookup';
import type { BackendFinding, DoctorReport } from './report';

export async function nativeAddon(timeoutMs: number): Promise<DoctorReport['nativeAddon']> {
  const built = fs.existsSync(ADDON_PATH);
  const build = `node ${path.join(packageFolder(), 'src', 'native', 'build.js')}`;
  if (!built) {
    const tools = await Promise.all(
      ['c++', 'make', 'python3'].map(async (t) => ((await runCommand(t, ['--version'], timeoutMs)).ok ? undefined : t)),
    );
    const lacking = tools.filter((t): t is string => !!t);
    const fix = lacking.length
      ? `install ${lacking.join(', ')} (Debian/Ubuntu: apt-get install -y g++ make python3), then: ${build}`
      : `build it: ${build} (it prints why when it cannot)`;
    return {
      ok: false,
      built,
      loads: false,
      path: ADDON_PATH,
      detail: `not built${lacking.length ? ` (no ${lacking.join(', ')} on PATH)` : ''}; training uses the slower wasm kernels`,
      fix,
    };
  }
  const outcome = await runProbe<AddonProbe>(['addon'], timeoutMs);
  const r = outcome.result;
  if (r?.loads)
    return {
      ok: true,
      built,
      loads: true,
      path: ADDON_PATH,
      kernel: r.kernel,
      threads: r.threads,
      detail: `built and loads (${r.kernel}, ${r.threads} threads)`,
    };
  const why = r?.error ?? outcome.error ?? 'unknown';
  const fix = /GAN_NATIVE=0/.test(why) ? 'unset GAN_NATIVE' : `rebuild it for this Node and CPU: ${build}`;
  return { ok: false, built, loads: false, path: ADDON_PATH, detail: `built but does not load: ${why}`, fix };
}

/** The fix for a backend that does not load, from what its error says. */
function backendFix(name: BackendName, error: string): string {
  switch (name) {
    case 'tensorflow-gpu':
      return 'see the tensorflow-gpu section';
    case 'tensorflow':
      return /not installed/.test(error)
        ? `npm install @tensorflow/tfjs-node@${TFJS_VERSION} (its install downloads libtensorflow)`
        : `npm rebuild @tensorflow/tfjs-node (newer npm: npm install-scripts approve @tensorflow/tfjs-node first)`;
    case 'webgpu':
      return 'see the webgpu section';
    default:
      return 'reinstall: npm ci';
  }
}

/** Stderr lines that explain a failure (native libraries print their reasons there), shortened. */
function explainingLines(lines: string[]): string[] {
  return lines
    .filter((l) => /warning|error|cannot|failed|could not|couldn't|not found/i.test(l))
    .slice(-2)
    .map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l));
}

export async function backendFinding(
  name: BackendName,
  timeoutMs: number,
): Promise<BackendFinding & { adapter?: Record<string, string | number | boolean> }> {
  const outcome = await runProbe<BackendProbe>(['backend', name], timeoutMs);
  const r = outcome.result;
  if (r?.ok && r.computes !== false) return { name, ok: true, notice: r.notice, computes: r.computes, adapter: r.adapter, ms: outcome.ms };
  let error = r?.error ?? outcome.error ?? 'unknown';
  if (r?.ok) error = 'it loads, but a small op gave wrong values';
  // The backend's own message ends with the generic pointer to gan doctor: we are there.
  error = error
    .replace(/\.\s*(Install it with:[^]*|Reinstall with npm ci;\s*)?see what this machine can run[^]*$/, '')
    .replace(/^backend \S+ is not available \(([^]*)\)$/, '$1');
  const notes = explainingLines(outcome.stderrLines)
    .map((l) => l.replace(/^Warning:\s*/, ''))
    .filter((l) => !error.includes(l));
  if (notes.length) error += name === 'webgpu' ? ` (Dawn: ${notes.join('; ')})` : ` [stderr: ${notes.join('; ')}]`;
  return { name, ok: false, error, fix: backendFix(name, error), ms: outcome.ms };
}
