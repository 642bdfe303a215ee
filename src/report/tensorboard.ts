/**
 * TensorBoard event files inside a run folder, so that `tensorboard --logdir checkpoints` shows
 * every run side by side (TensorBoard names each run after the folder its event files are in).
 *
 * One file per process that trains the run: events.out.tfevents.<seconds>.<host>.<pid>, its
 * seconds above every earlier file's, so that name order is time order (TensorBoard reads a
 * folder's files in name order). On a (re)start at step S, earlier files lose their records past
 * S (written by a killed or stopped process for steps that are trained again) and a torn last
 * record; a file left with only its version event goes. The folder then holds each step once,
 * as an uninterrupted run's would. A TensorBoard already running keeps what it read until it is
 * restarted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ioError, fsyncDir, writeFileAtomic } from '../util/fs';
import { FILE_VERSION, GRAYSCALE, encodeEvent, eventStep, frameRecord, pngSize, readRecords } from './tfevents';

const EVENT_FILE = /^events\.out\.tfevents\.(\d+)\./;

/** The run's event files, in name (= time) order. */
export function listEventFiles(runDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => EVENT_FILE.test(n))
    .sort()
    .map((n) => path.join(runDir, n));
}

/** Drops from the run's event files every record past `step`, and the files left with none. */
export function dropEventsAfter(runDir: string, step: number): void {
  for (const file of listEventFiles(runDir)) {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw ioError(e, 'read', file);
    }
    const records = readRecords(bytes);
    const kept = records.filter((r) => {
      try {
        return eventStep(r.data).step <= step;
      } catch {
        return false; // intact framing around bytes that are no event: not ours to keep
      }
    });
    const withData = kept.filter((r) => !eventStep(r.data).fileVersion);
    try {
      if (withData.length === 0) fs.rmSync(file, { force: true });
      else if (kept.length !== records.length || records.at(-1)!.end !== bytes.length)
        writeFileAtomic(file, Buffer.concat(kept.map((r) => bytes.subarray(r.start, r.end))));
    } catch (e) {
      throw ioError(e, 'rewrite', file);
    }
  }
}

/** Appends events to a new event file of the run; sync() makes them durable. */
export class EventWriter {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /** A new event file in `runDir`, named after every earlier one, holding the version event. */
  static create(runDir: string, now = Date.now()): EventWriter {
    const earlier = listEventFiles(runDir).map((f) => Number(EVENT_FILE.exec(path.basename(f))![1]));
    const seconds = Math.max(Math.floor(now / 1000), ...earlier.map((s) => s + 1));
    const file = path.join(
      runDir,
      `events.out.tfevents.${String(seconds).padStart(10, '0')}.${os.hostname().replace(/[^\w.-]/g, '_')}.${process.pid}`,
    );
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (e) {
      throw ioError(e, 'create', file);
    }
    const writer = new EventWriter(file, fd);
    writer.append(encodeEvent({ wallTime: now / 1000, step: 0, fileVersion: FILE_VERSION }));
    writer.sync();
    fsyncDir(runDir);
    return writer;
  }

  /** Scalars at `step`, as one event. */
  scalars(step: number, values: Array<[tag: string, value: number]>, wallTime = Date.now() / 1000): void {
    this.append(encodeEvent({ wallTime, step, values: values.map(([tag, scalar]) => ({ tag, scalar })) }));
  }

  /** A grayscale PNG at `step`. */
  image(step: number, tag: string, png: Uint8Array, wallTime = Date.now() / 1000): void {
    const image = { png, ...pngSize(png), colorspace: GRAYSCALE };
    this.append(encodeEvent({ wallTime, step, values: [{ tag, image }] }));
  }

  sync(): void {
    if (this.fd === undefined) return;
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      throw ioError(e, 'write', this.file);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }

  private append(data: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`);
    try {
      fs.writeSync(this.fd, frameRecord(data));
    } catch (e) {
      throw ioError(e, 'append to', this.file);
    }
  }
}
