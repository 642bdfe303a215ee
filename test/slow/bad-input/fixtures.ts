/** The runs and data folders the bad-input rows damage copies of. */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sealedStateJson } from '../../../src/run/checkpoint';
import { encodeIdx1, encodeIdx3 } from '../../../src/data/idx';
import { loadImages } from '../../../src/data/mnist';
import { gan } from './harness';

export function newestCkpt(run: string): string {
  const d = path.join(run, 'checkpoints');
  const names = fs
    .readdirSync(d)
    .filter((n) => n.startsWith('step-'))
    .sort();
  return path.join(d, names.at(-1)!);
}

export function allCkpts(run: string): string[] {
  const d = path.join(run, 'checkpoints');
  return fs
    .readdirSync(d)
    .filter((n) => n.startsWith('step-'))
    .sort()
    .map((n) => path.join(d, n));
}

/** Trains a run for the rows; throws (the whole script fails) if it cannot. */
export function train(work: string, out: string, flags: string[]): string {
  const run = path.join(work, out);
  const r = gan(['train', '--seed', '1', ...flags, '--out', run], work);
  if (r.code !== 0) throw new Error(`training fixture ${out} failed: ${r.stderr}`);
  return run;
}

export class Fixtures {
  /** A finished 1-epoch run (one checkpoint). */
  readonly good: string;
  /** A finished 2-epoch run (two checkpoints, step 4 and step 8). */
  readonly two: string;
  constructor(readonly work: string) {
    this.good = train(work, 'good-run', ['--epochs', '1', '--limit', '256']);
    this.two = train(work, 'two-run', ['--epochs', '2', '--limit', '256']);
  }

  out(name: string): string {
    return path.join(this.work, name);
  }

  /** A copy of `from` (default: the 1-epoch run) named `name`, damaged by `damage`. */
  damaged(name: string, damage: (run: string) => void, from = this.good): string {
    const run = this.out(name);
    fs.cpSync(from, run, { recursive: true });
    damage(run);
    return run;
  }

  /** A copy whose run.json is replaced by edit(its parsed content). */
  runJson(name: string, edit: (info: Record<string, any>) => unknown): string {
    return this.damaged(name, (r) => {
      const f = path.join(r, 'run.json');
      fs.writeFileSync(f, JSON.stringify(edit(JSON.parse(fs.readFileSync(f, 'utf8')))));
    });
  }

  /** A copy whose newest state.json is edited, and sealed again (a valid checksum) when `seal`. */
  stateEdit(name: string, edit: (s: Record<string, any>) => void, seal: boolean): string {
    return this.damaged(name, (r) => {
      const f = path.join(newestCkpt(r), 'state.json');
      const s = JSON.parse(fs.readFileSync(f, 'utf8'));
      edit(s);
      fs.writeFileSync(f, seal ? sealedStateJson(s) : JSON.stringify(s, null, 1));
    });
  }

  /** A copy whose newest checkpoint's generator model.json is replaced (and re-hashed in a re-sealed state.json). */
  modelJsonEdit(name: string, edit: (m: Record<string, any>) => void): string {
    return this.damaged(name, (r) => {
      const dir = newestCkpt(r);
      const mj = path.join(dir, 'generator', 'model.json');
      const m = JSON.parse(fs.readFileSync(mj, 'utf8'));
      edit(m);
      const text = JSON.stringify(m);
      fs.writeFileSync(mj, text);
      const sf = path.join(dir, 'state.json');
      const s = JSON.parse(fs.readFileSync(sf, 'utf8'));
      s.files['generator/model.json'] = crypto.createHash('sha256').update(text).digest('hex');
      fs.writeFileSync(sf, sealedStateJson(s));
    });
  }

  /** A data folder of `n` MNIST images (and their labels, edited by `labels` when given). */
  dataDir(name: string, n: number, labels?: (l: Uint8Array) => void): string {
    const dir = this.out(name);
    fs.mkdirSync(dir);
    const set = loadImages({ limit: n, labels: true });
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx3(set.pixels, n, 28, 28));
    if (labels) {
      const l = Uint8Array.from(set.labels!);
      labels(l);
      fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx1(l));
    }
    return dir;
  }
}
