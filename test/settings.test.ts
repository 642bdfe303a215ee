/**
 * The setting records: each flag parser and stored check agree at the ends of their range, the
 * flags reach the settings they name, and README's flag tables list exactly each command's flags.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  SETTINGS,
  SETTING_LIST,
  DEFAULT_TRAIN,
  DEFAULT_TRICKS,
  describeTricks,
  resolveTrainConfig,
  type Kind,
  type Range,
  type TrainConfig,
} from '../src/config';
import { buildProgram, settingOverrides } from '../src/cli';
import { trainFlags } from '../src/commands/flags';
import { ConfigError } from '../src/util/errors';

/** Values at and just beyond each end of a range, and a few that are no value of it at all. */
function probes(r: Range): unknown[] {
  switch (r.type) {
    case 'int':
      return [r.lo - 1, r.lo, r.lo + 0.5, r.hi, r.hi + 1];
    case 'number': {
      const d = (r.hi - r.lo) * 1e-6;
      return [r.lo - 1, r.lo, r.lo + d, r.hi - d, r.hi, r.hi + 1, NaN];
    }
    case 'oneOf':
      return [...r.values, 'nope', ...r.values.filter((v) => typeof v === 'number').map((v) => (v as number) + 1)];
    case 'intList': {
      const n = (k: number) => Array<number>(k).fill(r.lo);
      return [[r.lo], [r.hi], [r.lo - 1], [r.hi + 1], n(r.minLength), n(r.maxLength), n(r.maxLength + 1), n(Math.max(0, r.minLength - 1))];
    }
    case 'string':
      return ['x', ''];
  }
}

const text = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));

/** Whether the parser takes the value's spelling back to the value; a refusal must name the flag. */
function parses(kind: Kind<unknown>, flag: string, v: unknown): boolean {
  try {
    assert.deepEqual(kind.parser(flag)(text(v)), v);
    return true;
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof ConfigError && e.message.includes(flag), `${flag} '${text(v)}': ${e}`);
    return false;
  }
}

test('every setting: its flag parser and its stored check agree at and beyond each end of its range', () => {
  for (const [key, s] of SETTING_LIST) {
    const flag = s.flag?.split(' ')[0] ?? `--${key}`;
    const flagKind = s.flagKind ?? s.kind;
    for (const v of [...probes(s.kind.range), ...probes(flagKind.range)]) {
      const stored = s.kind.check(v) === undefined;
      const typed = parses(flagKind, flag, v);
      const where = `${key} = ${JSON.stringify(v)}`;
      if (s.flagKind) {
        // A narrower flag: what it takes is storable, and it takes what its own kind checks.
        assert.ok(!typed || stored, where);
        assert.equal(typed, s.flagKind.check(v) === undefined, where);
      } else {
        assert.equal(typed, stored, where);
      }
    }
  }
});

test('defaults and the values of older files pass their own checks; help texts fill in', () => {
  for (const [key, s] of SETTING_LIST) {
    if (s.default !== undefined) assert.equal(s.kind.check(s.default), undefined, key);
    if (s.absentMeans !== undefined) assert.equal(s.kind.check(s.absentMeans), undefined, key);
    assert.equal(s.default === undefined, key === 'seed' || !!s.optional, `${key}: only seed and the optional settings lack a default`);
    assert.equal(!!s.flag, !!s.help, `${key}: a flag has a help text`);
  }
  const help = trainFlags()
    .map((f) => f.description)
    .join('\n');
  assert.doesNotMatch(help, /\{\w+\}/);
  assert.match(help, /network family: mlp, dcgan .*\(default: mlp\)/);
  assert.match(help, /\(default: 256,512,1024\)/);
  assert.equal(DEFAULT_TRAIN.generatorHidden, SETTINGS.generatorHidden.default);
});

test('each setting flag sets its setting: every spelling maps to its key', async () => {
  const program = buildProgram();
  const train = program.commands.find((c) => c.name() === 'train')!;
  let options: Record<string, unknown> = {};
  train.action((o: Record<string, unknown>) => {
    options = o;
  });
  const flags = trainFlags().filter((f) => f.setting);
  const args: string[] = [];
  const want: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (const f of flags) {
    const s = SETTINGS[f.setting!];
    const [long, arg] = f.flags.split(' ');
    if (!arg) {
      args.push(long);
      want[f.setting!] = true;
      continue;
    }
    // A valid value other than the default, so that a mix-up of keys shows.
    const v = probes((s.flagKind ?? s.kind).range).find(
      (p) => (s.flagKind ?? s.kind).check(p) === undefined && JSON.stringify(p) !== JSON.stringify(s.default),
    );
    args.push(long, text(v));
    want[f.setting!] = v;
  }
  await program.parseAsync(['node', 'gan', 'train', ...args]);
  assert.deepEqual(settingOverrides(flags, options), want);
  assert.deepEqual(
    Object.keys(want).sort(),
    SETTING_LIST.filter(([, s]) => s.flag)
      .map(([k]) => k)
      .sort(),
  );
});

test("the flags that describeTricks spells (logs, the --preset help) are the tricks' own", () => {
  const all = {
    ...DEFAULT_TRICKS,
    labelSmoothing: 0.1,
    oneSided: true,
    smoothReal: 'uniform' as const,
    instanceNoise: 0.1,
    noiseDecay: 0.9,
    featureMatching: true,
    replay: 5,
    historicalAveraging: 1,
    ema: 0.9,
    dRealOnly: true,
  };
  const spelled = describeTricks(all).match(/--[a-z-]+/g)!;
  const trickFlags = SETTING_LIST.filter(([, s]) => s.group === 'trick').map(([, s]) => s.flag!.split(' ')[0]);
  assert.deepEqual([...new Set(spelled)].sort(), trickFlags.sort());
});

/** README's tables under "### `gan CMD`" headings: command -> the long flags its rows name. */
function readmeFlagTables(): Map<string, string[]> {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
  const tables = new Map<string, string[]>();
  let command: string | undefined;
  for (const line of readme.split('\n')) {
    if (line.startsWith('#')) command = /^### `gan ([a-z ]+)`$/.exec(line)?.[1];
    const row = /^\| `(--[a-z0-9-]+)[^`]*` \|/.exec(line);
    if (command && row) tables.set(command, [...(tables.get(command) ?? []), row[1]]);
  }
  return tables;
}

test("README's flag tables list exactly each command's flags (hidden ones left out)", () => {
  const program = buildProgram();
  const tables = readmeFlagTables();
  assert.deepEqual([...tables.keys()].sort(), ['eval', 'sample', 'train']);
  for (const [name, documented] of tables) {
    const cmd = program.commands.find((c) => c.name() === name);
    assert.ok(cmd, `README documents gan ${name}, which does not exist`);
    const flags = cmd.options.filter((o) => !o.hidden).map((o) => o.long!);
    assert.deepEqual([...documented].sort(), [...flags].sort(), `gan ${name}`);
    assert.equal(new Set(documented).size, documented.length, `gan ${name}: a flag documented twice`);
  }
});

test("odd strings are values: numbers are decimal, paths are not empty, another architecture's setting is refused", async () => {
  const lr = SETTINGS.lr.kind.parser('--lr');
  for (const ok of ['0.5', '.5', '2e-4', ' 1E-3 ']) assert.equal(lr(ok), Number(ok));
  for (const odd of ['0x10', '0b1', '0o7', 'Infinity', '', ' ', '1e', '.']) assert.throws(() => lr(odd), /--lr must be a number/);
  const program = buildProgram();
  const parse = (args: string[]) => program.parseAsync(['node', 'gan', ...args]);
  for (const flag of ['--out', '--data']) await assert.rejects(parse(['train', flag, '']), new RegExp(`${flag} must be a non-empty path`));
  assert.throws(() => resolveTrainConfig({ arch: 'dcgan', generatorHidden: [8] }), /--generator-hidden is a setting of --arch mlp/);
  assert.throws(() => resolveTrainConfig({ arch: 'mlp', channels: 8 }), /--channels is a setting of --arch dcgan/);
  assert.equal(resolveTrainConfig({ data: 'rel/dir' }).data, path.resolve('rel/dir'), 'stored absolute');
});
