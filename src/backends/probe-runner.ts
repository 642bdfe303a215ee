/**
 * Runs one check in a child process (dist/src/backends/probe.js) with a time limit, and reads back the
 * one JSON line it prints.
 *
 * Why a child: tfjs allows one backend family per process, a native backend that fails to load
 * can leave the process half-initialised, a broken GPU driver can hang, and Dawn and TensorFlow
 * print their own warnings straight to stderr. A child keeps each check from hanging, poisoning
 * or cluttering the rest; what it printed to stderr becomes part of the reason when it fails.
 */
import { spawn } from 'node:child_process';
import { PROBE_SCRIPT } from '../util/paths';

/** The child prints its result on one line after this marker (others may print to stdout too). */
export const PROBE_MARKER = 'GAN_PROBE_RESULT ';

export interface ProbeOutcome<T> {
  /** The child's result, when it printed one. */
  result?: T;
  /** Why there is no result: timed out, crashed, or what it printed before it died. */
  error?: string;
  /** Warning and error lines the child (or a native library in it) printed to stderr. */
  stderrLines: string[];
  ms: number;
}

/** Lines of stderr worth showing: native warnings and errors, not stack frames or blank lines. */
export function meaningfulStderr(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^at\s/.test(l) && !/^\(node:\d+\)/.test(l) && !/--trace-warnings/.test(l));
}

export function runProbe<T>(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<ProbeOutcome<T>> {
  const started = Date.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(process.execPath, [PROBE_SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const ms = Date.now() - started;
      const stderrLines = meaningfulStderr(stderr);
      const line = stdout
        .split('\n')
        .reverse()
        .find((l) => l.startsWith(PROBE_MARKER));
      if (line) {
        try {
          resolve({ result: JSON.parse(line.slice(PROBE_MARKER.length)) as T, stderrLines, ms });
          return;
        } catch {
          // fall through: reported as a failure below
        }
      }
      let error: string;
      if (spawnError) error = `could not start a child process: ${spawnError.message}`;
      else if (timedOut) error = `no answer within ${Math.round(timeoutMs / 1000)} s (a hung driver or library?)`;
      else
        error = `the check crashed (${signal ? `signal ${signal}` : `exit code ${code}`})${stderrLines.length ? `: ${stderrLines[stderrLines.length - 1]}` : ''}`;
      resolve({ error, stderrLines, ms });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}
