/**
 * The bad-input harness: runs gan as a user does, and judges each row by what it states in
 * advance, the exit code and a pattern of the message, and by the disk, which must be unchanged
 * wherever a command failed. A row that cannot run here (no root for a tmpfs, no python3) is
 * SKIPPED with its reason and counted apart: it proves nothing, so it passes nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BIN = path.resolve(__dirname, '..', '..', '..', '..', 'bin', 'gan.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function gan(args: string[], cwd: string, env: Record<string, string> = {}): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, DEBUG: '', ...env } });
  return { code: r.status, stderr: r.stderr.trim(), stdout: r.stdout.trim() };
}

/**
 * Every file and folder under dir with its size, inode and change times: any write, create,
 * remove or rename inside shows (ctime cannot be set back), and no file has to be read.
 */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p, { bigint: true });
      out.set(path.relative(dir, p), `${st.mode} ${st.size} ${st.ino} ${st.mtimeNs} ${st.ctimeNs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** What changed between two snapshots: paths added, removed or altered (at most a few named). */
export function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, sig] of after) if (before.get(p) !== sig) out.push(before.has(p) ? `altered ${p}` : `created ${p}`);
  for (const p of before.keys()) if (!after.has(p)) out.push(`removed ${p}`);
  return out;
}

export type Status = 'passed' | 'failed' | 'skipped';

export interface Outcome {
  /** Which table it belongs in. */
  table: string;
  input: string;
  command: string;
  code: string;
  message: string;
  disk: string;
  status: Status;
  /** Why it failed or was skipped. */
  why?: string;
}

export interface Step {
  args: string[];
  /** Exit code expected. */
  code: number;
  /** Pattern the message must match: stderr when the command fails, stdout (then stderr) when it succeeds. */
  expect: RegExp;
  cwd?: string;
  env?: Record<string, string>;
  /** A step that exits 0 changes the disk; one that fails must not, unless this says it may. */
  mayWrite?: boolean;
}

/** The lines a row shows, with the work folder written $W. */
export class Cleaner {
  constructor(private readonly work: string) {}
  text(s: string): string {
    return s.split('\n').filter(Boolean).join(' / ').split(this.work).join('$W');
  }
  args(args: string[]): string {
    return `gan ${args.map((a) => (a === '' ? "''" : /\s/.test(a) ? `'${a}'` : a)).join(' ')}`.split(this.work).join('$W');
  }
}

/**
 * Runs the steps in order (each after the one before, as a user would type them) and judges
 * every one: its exit code, its message, one line and no stack when it fails, and the disk.
 */
export function runSteps(table: string, input: string, steps: Step[], work: string, watch: string = work): Outcome {
  const clean = new Cleaner(work);
  const codes: string[] = [];
  const messages: string[] = [];
  const disks: string[] = [];
  const problems: string[] = [];
  for (const [i, s] of steps.entries()) {
    const before = snapshot(watch);
    const r = gan(s.args, s.cwd ?? work, s.env);
    const changed = changes(before, snapshot(watch));
    const failed = r.code !== 0;
    const text = failed ? r.stderr : `${r.stdout}\n${r.stderr}`;
    codes.push(String(r.code));
    const shown = failed ? clean.text(r.stderr) : pickLine(clean.text(r.stdout), s.expect) || clean.text(r.stderr);
    messages.push(shown);
    disks.push(failed ? (changed.length ? 'CHANGED' : 'unchanged') : 'written');
    const tag = steps.length > 1 ? `step ${i + 1}: ` : '';
    if (r.code !== s.code) problems.push(`${tag}exit ${r.code}, expected ${s.code}`);
    if (!s.expect.test(text)) problems.push(`${tag}message does not match ${s.expect}`);
    if (failed && (r.stderr.split('\n').filter(Boolean).length !== 1 || /\n\s+at /.test(r.stderr))) problems.push(`${tag}not one line`);
    if (failed && changed.length && !s.mayWrite) problems.push(`${tag}disk changed: ${changed.slice(0, 3).join(', ')}`);
  }
  return {
    table,
    input,
    command: steps.map((s) => clean.args(s.args)).join('; then '),
    code: codes.join(', '),
    message: messages.join(' → then: '),
    disk: disks.join(', '),
    status: problems.length ? 'failed' : 'passed',
    why: problems.join('; ') || undefined,
  };
}

/** The line of a successful command's output that the pattern names (the one worth showing). */
function pickLine(text: string, pattern: RegExp): string {
  const lines = text.split(' / ');
  return lines.find((l) => pattern.test(l)) ?? lines.at(-1) ?? '';
}

export function skipped(table: string, input: string, reason: string): Outcome {
  return { table, input, command: '', code: '', message: '', disk: '', status: 'skipped', why: reason };
}

/** A row judged by the caller's own checks (signals, mounts): each check a [passed, what it says] pair. */
export function judged(
  fields: Omit<Outcome, 'status' | 'why'>,
  checks: Array<[boolean, string]>,
  expected: { code: number | null; got: number | null },
): Outcome {
  const problems = checks.filter(([ok]) => !ok).map(([, what]) => what);
  if (expected.got !== expected.code) problems.unshift(`exit ${expected.got}, expected ${expected.code}`);
  return { ...fields, status: problems.length ? 'failed' : 'passed', why: problems.join('; ') || undefined };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The Markdown tables, one per table name, and the counts; returns the number of failed rows. */
export function printTables(outcomes: Outcome[]): number {
  const tables = [...new Set(outcomes.map((o) => o.table))];
  for (const t of tables) {
    console.log(`\n### ${t}\n`);
    console.log('| input | command | exit | message | disk | result |');
    console.log('|---|---|---|---|---|---|');
    for (const o of outcomes.filter((x) => x.table === t)) {
      const result = o.status === 'passed' ? 'passed' : o.status === 'skipped' ? `SKIPPED: ${o.why}` : `**FAILED**: ${o.why}`;
      console.log(
        `| ${cell(o.input)} | ${o.command ? `\`${cell(o.command)}\`` : ''} | ${o.code} | ${cell(o.message)} | ${o.disk} | ${cell(result)} |`,
      );
    }
  }
  const count = (s: Status) => outcomes.filter((o) => o.status === s).length;
  console.log(`\n${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped (of ${outcomes.length} rows)`);
  for (const o of outcomes.filter((x) => x.status === 'skipped')) console.log(`SKIPPED: ${o.table}: ${o.input}: ${o.why}`);
  return count('failed');
}
