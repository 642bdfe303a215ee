/**
 * One writer per run. `gan train` holds <run>/train.lock while it trains; a second writer is
 * refused with one line, while readers (`gan sample`, `gan eval`) never look at it.
 *
 * The lock is a file created with O_EXCL (so only one process can create it) holding the
 * owner's pid, host and process start time. A process killed with SIGKILL cannot remove it, so
 * a lock whose owner is gone (no such pid, or a pid now reused by a process that started at
 * another time) is stale and is broken by the next writer: the stale file is first renamed to a
 * name of the breaker's own and checked to still be the stale one, so that two writers breaking
 * the same stale lock cannot both end up holding the lock.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunLockedError } from '../util/errors';
import { ioError } from '../util/fs';
import { shellQuote } from '../util/invocation';

export const LOCK_FILE = 'train.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process in clock ticks since boot (Linux /proc), to tell a reused pid. */
  startTicks?: number;
  startedAt: string;
}

/** Field 22 of /proc/<pid>/stat: when the process started. Undefined where there is no /proc. */
function processStartTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** False only when the owner is surely gone; a lock from another host counts as held. */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (owner.startTicks !== undefined) {
    const now = processStartTicks(owner.pid);
    if (now !== undefined && now !== owner.startTicks) return false; // the pid was reused
  }
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text);
    return Number.isSafeInteger(o?.pid) && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

function lockedError(runDir: string, owner: LockOwner): RunLockedError {
  const here = owner.host === os.hostname();
  const where = here ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`;
  const remove = `rm ${shellQuote(path.join(runDir, LOCK_FILE))}`;
  // Another host's process, or a lock without the start time that tells a reused pid, cannot be
  // judged from here: the user can, and is told how to clear the lock.
  const unsure = !here
    ? `. If that process is gone, remove the lock: ${remove}`
    : owner.startTicks === undefined
      ? `. If process ${owner.pid} is no gan train, remove the lock: ${remove}`
      : '';
  return new RunLockedError(
    `${runDir} is being trained by ${where} (since ${owner.startedAt})`,
    `One writer per run: wait for it or stop it; gan sample and gan eval work on the run meanwhile${unsure}`,
  );
}

/** A train.lock that no gan wrote (a folder, an unreadable file): only the user can clear it. */
function foreignLock(file: string, e: unknown): RunLockedError {
  const code = (e as NodeJS.ErrnoException).code;
  return new RunLockedError(
    `${file} is not a lock file gan can read (${code === 'EISDIR' ? 'it is a folder' : (code ?? String(e))})`,
    `Remove it if no gan train is running on the run: rm -r ${shellQuote(file)}`,
  );
}

/**
 * The live owner of a run's lock, if any (a quick look, taking nothing). Lets a command refuse
 * before it loads a backend; lockRun() decides for real.
 */
export function runLockOwner(runDir: string): LockOwner | undefined {
  const file = path.join(runDir, LOCK_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw foreignLock(file, e);
  }
  const owner = parseOwner(text);
  const mine = owner?.pid === process.pid && owner.host === os.hostname();
  return owner && !mine && ownerAlive(owner) ? owner : undefined;
}

/** Throws RunLockedError if another live process holds the run's lock. */
export function checkNotLocked(runDir: string): void {
  const owner = runLockOwner(runDir);
  if (owner) throw lockedError(runDir, owner);
}

export interface RunLock {
  file: string;
  /** Removes the lock if it is still ours. Safe to call more than once (and from an 'exit' handler). */
  release(): void;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Takes the run's lock or throws RunLockedError (a live writer) or an IoError (cannot write there). */
export function lockRun(runDir: string): RunLock {
  const file = path.join(runDir, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startTicks: processStartTicks(process.pid),
    startedAt: new Date().toISOString(),
  };
  const myText = JSON.stringify(me) + '\n';
  // Long enough for an unwritten lock to count as stale (2 s), with room for races.
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, myText);
      } finally {
        fs.closeSync(fd);
      }
      let held = true;
      return {
        file,
        release: () => {
          if (!held) return;
          held = false;
          try {
            if (fs.readFileSync(file, 'utf8') === myText) fs.rmSync(file, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(e, 'create the lock file', file);
    }
    let text: string;
    let mtimeMs: number;
    try {
      text = fs.readFileSync(file, 'utf8');
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw foreignLock(file, e);
    }
    const owner = parseOwner(text);
    if (!owner) {
      // Created a moment ago and not yet written, or cut short by a kill at that moment.
      if (Date.now() - mtimeMs < 2000) {
        sleepSync(20);
        continue;
      }
    } else if (ownerAlive(owner)) {
      throw lockedError(runDir, owner);
    }
    // Stale: move it to a name of our own, and remove it only if it is still the stale one.
    const aside = `${file}.stale-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else moved it first
    }
    let moved = '';
    try {
      moved = fs.readFileSync(aside, 'utf8');
    } catch {
      // unreadable: treat as not ours to judge
    }
    if (moved !== text) {
      // We moved a fresh lock that another writer took meanwhile: put it back (link never replaces).
      try {
        fs.linkSync(aside, file);
      } catch {
        // a third writer holds the name now; theirs stands
      }
    }
    fs.rmSync(aside, { force: true });
  }
  throw new RunLockedError(`could not take the lock ${file}: it keeps changing`, 'Another gan train is starting on this run; wait for it');
}
