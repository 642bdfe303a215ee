/**
 * Writing files so that a crash, a kill or a full disk never leaves a half-written file under
 * the final name: write to a temporary name in the same directory, flush to disk, rename.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { GanError, IoError } from './errors';

/**
 * Turns a low-level I/O failure into a message that names the file, the cause and the fix for
 * that cause (free space, permissions, a missing folder). Already a GanError: passed through.
 */
export function ioError(e: unknown, what: string, target: string): GanError {
  if (e instanceof GanError) return e;
  const err = e as NodeJS.ErrnoException;
  const [reason, hint] =
    err.code === 'ENOSPC' || err.code === 'EDQUOT'
      ? ['the disk is full', 'Free some space, or write somewhere else']
      : err.code === 'EACCES' || err.code === 'EPERM'
        ? ['permission denied', 'Make it writable for you, or write somewhere else']
        : err.code === 'EROFS'
          ? ['the file system is read-only', 'Write somewhere else']
          : err.code === 'ENOTDIR'
            ? ['a part of the path is a file, not a folder', 'Fix the path']
            : err.code === 'ENOENT'
              ? ['a folder on the path does not exist', 'Create it or fix the path']
              : err.code === 'EISDIR'
                ? ['it is a folder', 'Give a file path']
                : [err.message, undefined];
  return new IoError(`cannot ${what} ${target}: ${reason}`, hint, err.code);
}

/**
 * Fails now, with ioError's message, if files cannot be created in `dir` (or, when it does not
 * exist yet, in the nearest folder above it that does), so an unwritable place is found before
 * any training, not at the first checkpoint. Asks the kernel (access(2): permissions, a
 * read-only file system) and leaves no trace: a command that fails changes nothing on disk.
 */
export function checkWritable(dir: string): void {
  let probeDir = path.resolve(dir);
  while (!fs.existsSync(probeDir)) {
    const up = path.dirname(probeDir);
    if (up === probeDir) break;
    probeDir = up;
  }
  try {
    if (!fs.statSync(probeDir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.accessSync(probeDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw ioError(e, 'write to', probeDir);
  }
}

/** Writes bytes and fsyncs them before returning. */
export function writeFileDurable(file: string, data: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes a directory's entries (the renames inside it) to disk. No-op where unsupported. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Replaces `file` atomically: readers see the old content or the new, never a mix. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    writeFileDurable(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ioError(e, 'write', file);
  }
  fsyncDir(path.dirname(file));
}

/** Appends one line and flushes it (metrics logs survive a kill up to the last full line). */
export function appendLineDurable(file: string, line: string): void {
  try {
    const fd = fs.openSync(file, 'a');
    try {
      fs.writeSync(fd, line.endsWith('\n') ? line : line + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw ioError(e, 'append to', file);
  }
}

export function sha256(data: Uint8Array | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}
