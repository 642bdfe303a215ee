/** JSON-lines files of a run (steps.jsonl, evals.jsonl): reading them leniently, trimming them on resume. */
import * as fs from 'node:fs';
import { ioError, writeFileAtomic } from '../util/fs';

/** The objects of a JSON-lines text that `accept` takes; a line cut short by a kill, or foreign, is skipped. */
export function parseJsonLines<T>(text: string, accept: (v: Record<string, unknown>) => boolean): T[] {
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v) && accept(v)) out.push(v as T);
    } catch {
      // a partial last line
    }
  }
  return out;
}

/** The file's text, or '' when it does not exist. */
export function readTextOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw ioError(e, 'read', file);
  }
}

/**
 * Keeps the lines of `file` whose object has a `step` of at most `step` (replaced atomically,
 * and only when a line goes): lines past it are from work being redone, a cut one from a kill.
 */
export function dropLinesAfterStep(file: string, step: number): void {
  const text = readTextOrEmpty(file);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const kept = lines.filter((l) => parseJsonLines<{ step: unknown }>(l, (v) => typeof v.step === 'number' && v.step <= step).length);
  if (kept.length !== lines.length || (text !== '' && !text.endsWith('\n'))) writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
}

/** Appends lines and leaves them to the caller's sync: an open file for the lines training writes. */
export class LineAppender {
  private fd: number | undefined;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'a');
    } catch (e) {
      throw ioError(e, 'open', file);
    }
  }

  append(lines: string[]): void {
    if (lines.length === 0) return;
    try {
      fs.writeSync(this.fd!, lines.map((l) => l + '\n').join(''));
    } catch (e) {
      throw ioError(e, 'append to', this.file);
    }
  }

  sync(): void {
    try {
      if (this.fd !== undefined) fs.fsyncSync(this.fd);
    } catch (e) {
      throw ioError(e, 'write', this.file);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
