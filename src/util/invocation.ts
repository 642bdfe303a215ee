/**
 * Command lines printed for the user to paste (hints such as "Resume with: ..."), written as
 * they run where the user is:
 *
 *   gan ...                          gan is on PATH and is this package (npm link, a global install)
 *   npx gan ...                      inside the package folder (npx runs the package's own bin)
 *   npx --prefix /path/to/gan gan    anywhere else: npx finds gan through --prefix and keeps the
 *                                    current folder, so relative paths in the hint still hold
 *
 * Every argument is quoted for a POSIX shell where it needs it, so a path with spaces pastes as
 * one argument. An argument that ends in '.', ',' or ':' is quoted too: then a bare word never
 * ends in punctuation, and a hint may end its command with a full stop or go on after a comma
 * without the reader (or the test that pastes hints, test/hints.test.ts) taking it for part of
 * the command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from './paths';

/** An argument as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-./=:,@%+]*[A-Za-z0-9_\-/=@%+]$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Folders npx (npm exec) puts on the PATH of the command it runs, not on the user's: `npx gan`
 * links this package into ~/.npm/_npx/HASH/node_modules/.bin, where a gan is found that the
 * user's shell will not find.
 */
const NPX_BIN = /[\\/]_npx[\\/]|[\\/]node_modules[\\/]\.bin$/;

/** True when a `gan` on the user's PATH is this package's bin/gan.js. */
function ganOnPath(env: NodeJS.ProcessEnv): boolean {
  const ours = realpath(path.join(PACKAGE_ROOT, 'bin', 'gan.js'));
  return (env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && !NPX_BIN.test(dir) && realpath(path.join(dir, 'gan')) === ours);
}

/**
 * True when `npx gan` run in `cwd` finds this package: npm takes the nearest folder at or above
 * cwd that holds a package.json or a node_modules as the project, and runs that project's bin.
 */
function npxFindsUs(cwd: string): boolean {
  const root = realpath(PACKAGE_ROOT);
  for (let dir = realpath(cwd); dir;) {
    if (fs.existsSync(path.join(dir, 'package.json')) || fs.existsSync(path.join(dir, 'node_modules'))) return dir === root;
    const up = path.dirname(dir);
    dir = up === dir ? undefined : up;
  }
  return false;
}

const cache = new Map<string, string>();

/** How to run gan from `cwd`: 'gan', 'npx gan' or 'npx --prefix DIR gan'. */
export function ganInvocation(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const key = `${cwd}\0${env.PATH ?? ''}`;
  let found = cache.get(key);
  if (found === undefined) {
    found = ganOnPath(env) ? 'gan' : npxFindsUs(cwd) ? 'npx gan' : `npx --prefix ${shellQuote(PACKAGE_ROOT)} gan`;
    cache.set(key, found);
  }
  return found;
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
