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
                : err.code === 'ENAMETOOLONG'
                  ? [`the path is too long (a name may have ${NAME_MAX} bytes, a path ${PATH_MAX})`, 'Use a shorter path']
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
export function writeFileDurable(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    // Parts are written one after another (each write goes on where the last ended): a large
    // body needs no concatenated copy (a decoded image folder is hundreds of MB).
    for (const part of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) fs.writeFileSync(fd, part);
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

/**
 * The limits of Linux's file systems (ext4, xfs, btrfs, tmpfs; macOS's APFS allows 255 UTF-8
 * bytes too): a name of at most NAME_MAX bytes, a whole path of at most PATH_MAX - 1.
 */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/**
 * Why `target` cannot be written (with up to `below` more bytes of names under it, the files a
 * command writes inside a folder), or undefined when it fits: checked before the first write,
 * so a long --out fails at once and not at the first checkpoint, with half a run written.
 */
export function pathTooLong(target: string, below = 0): string | undefined {
  const abs = path.resolve(target);
  const long = abs.split(path.sep).find((name) => Buffer.byteLength(name) > NAME_MAX);
  if (long !== undefined) {
    return `the name ${JSON.stringify(long.slice(0, 24) + '...')} is ${Buffer.byteLength(long)} bytes; a file or folder name may have ${NAME_MAX}`;
  }
  const bytes = Buffer.byteLength(abs) + below;
  if (bytes >= PATH_MAX) {
    const what = below ? `${Buffer.byteLength(abs)} bytes, and the files written under it need up to ${below} more` : `${bytes} bytes`;
    return `the path is ${what}; a path may have ${PATH_MAX - 1}`;
  }
  return undefined;
}

/**
 * The temporary name a file is written under before it is renamed into place. The file's own
 * name is cut so that the temporary one stays a legal name: a 250-byte name is legal, a
 * 272-byte temporary one is not.
 */
function tempNameFor(file: string): string {
  const suffix = `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  let base = path.basename(file);
  while (Buffer.byteLength(`.${base}${suffix}`) > NAME_MAX) base = base.slice(0, -1);
  return path.join(path.dirname(file), `.${base}${suffix}`);
}

/** Replaces `file` atomically: readers see the old content or the new, never a mix. */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const tmp = tempNameFor(file);
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
