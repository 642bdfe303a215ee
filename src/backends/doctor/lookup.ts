/**
 * What the doctor's checks ask the system: commands run with a time limit (npm, ldconfig,
 * nvidia-smi, compilers), installed packages, and where the dynamic loader finds a library.
 * None of them throws.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../util/paths';
import type { LibraryFinding } from './report';

interface CommandResult {
  ok: boolean;
  stdout: string;
  error?: string;
}

/** Runs a command with a time limit; never throws. */
export function runCommand(file: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (r: CommandResult) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve(r);
      }
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
    } catch (e) {
      resolve({ ok: false, stdout: '', error: (e as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, stdout, error: `no answer within ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, stdout, error: e.code === 'ENOENT' ? 'not found' : e.message }));
    child.on('close', (code) =>
      finish(
        code === 0 ? { ok: true, stdout } : { ok: false, stdout, error: (stderr.trim().split('\n').pop() || `exit code ${code}`).trim() },
      ),
    );
  });
}

export function packageFolder(): string {
  return PACKAGE_ROOT;
}

/** A package's folder and version, or undefined when it is not installed. */
export function installedPackage(name: string): { folder: string; version: string } | undefined {
  try {
    const file = require.resolve(`${name}/package.json`);
    return { folder: path.dirname(file), version: (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version };
  } catch {
    return undefined;
  }
}

/** Where the dynamic loader finds each library: `ldconfig -p`, then LD_LIBRARY_PATH's folders. */
export async function findLibraries(names: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<LibraryFinding[]> {
  const known = new Map<string, string>();
  if (process.platform === 'linux') {
    for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
      const r = await runCommand(ldconfig, ['-p'], timeoutMs);
      if (!r.ok) continue;
      // "	libcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0"
      for (const line of r.stdout.split('\n')) {
        const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
        if (m && !known.has(m[1]) && (process.arch !== 'x64' || m[2].includes('x86-64'))) known.set(m[1], m[3]);
      }
      break;
    }
  }
  const dirs = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return names.map((name) => {
    for (const dir of dirs) {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) return { name, found: true, path: p };
    }
    const p = known.get(name);
    return p ? { name, found: true, path: p } : { name, found: false };
  });
}
