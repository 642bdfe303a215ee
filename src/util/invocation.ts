/**
 * Command lines printed for the user to paste (hints such as "Resume with: ..."), written as
 * they run where the user is: `gan` when it is on PATH (npm link, a global install), otherwise
 * `npx gan`, which works inside the package folder after `npm ci`. Every argument is quoted for
 * a POSIX shell where it needs it, so a path with spaces pastes as one argument.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from './paths';

/** An argument as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_\-./=:,@%+]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

let cachedInvocation: string | undefined;

/** True when a `gan` on PATH is this package's bin/gan.js. */
function ganOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  const ours = path.join(PACKAGE_ROOT, 'bin', 'gan.js');
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      if (fs.realpathSync(path.join(dir, 'gan')) === fs.realpathSync(ours)) return true;
    } catch {
      // not there, or a dangling link: look further
    }
  }
  return false;
}

/** How to run gan here: 'gan' or 'npx gan'. */
export function ganInvocation(): string {
  cachedInvocation ??= ganOnPath() ? 'gan' : 'npx gan';
  return cachedInvocation;
}

/** A pasteable gan command line: ganCommand('train', '--resume', '--out', dir). */
export function ganCommand(...args: string[]): string {
  return [ganInvocation(), ...args.map(shellQuote)].join(' ');
}

/**
 * A path as shown to the user: relative to the current folder where that is shorter (runs store
 * absolute paths, so that they work from anywhere).
 */
export function shownPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  if (rel === '') return '.';
  return rel.length < p.length ? rel : p;
}
