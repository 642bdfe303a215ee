/**
 * The kinds of value a setting or a flag takes, each with its range. One kind gives both the
 * flag's parser (the text a user typed -> a value, or a ConfigError naming the flag and the fix)
 * and the check of a value read back from a stored config, so the two cannot drift apart.
 */
import { ConfigError } from '../util/errors';
import { pathTooLong } from '../util/fs';

/** Checks one stored value: undefined when it is fine, otherwise what it should have been. */
export type Check = (v: unknown) => string | undefined;

export type Primitive = string | number | boolean;

/** The range, as data: tests walk its ends, help texts list its choices. */
export type Range =
  | { type: 'int'; lo: number; hi: number }
  | { type: 'number'; lo: number; hi: number; ends: Ends }
  | { type: 'oneOf'; values: readonly Primitive[] }
  | { type: 'intList'; lo: number; hi: number; minLength: number; maxLength: number }
  | { type: 'string' };

/** Interval notation: '[)' is lo <= x < hi. */
export type Ends = '()' | '[)' | '(]' | '[]';

export interface Kind<T> {
  range: Range;
  check: Check;
  /** The parser of the flag spelled `flag` (e.g. '--channels'), for commander's argParser. */
  parser(flag: string): (text: string) => T;
  /** A value as a user would type it: defaults in help texts. */
  format(value: T): string;
}

// Digits only: Number() alone would take '', '0x10', '1e3' and ' '.
const WHOLE = /^\s*\d+\s*$/;
// A decimal number, as a user writes a rate: 0.5, .5, 2e-4. Number() alone would also take
// '0x10', '0b1', '0o7' and 'Infinity', which no one means as a learning rate.
const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?\s*$/i;

const refuse = (flag: string, want: string, text: string) => new ConfigError(`${flag} must be ${want}, got '${text}'`);

const isWhole = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi;

export function int(lo: number, hi: number): Kind<number> {
  const want = `a whole number from ${lo} to ${hi}`;
  return {
    range: { type: 'int', lo, hi },
    check: (v) => (isWhole(v, lo, hi) ? undefined : want),
    parser: (flag) => (text) => {
      const n = Number(text);
      if (!WHOLE.test(text) || !isWhole(n, lo, hi)) throw refuse(flag, want, text);
      return n;
    },
    format: String,
  };
}

export function numberIn(lo: number, hi: number, ends: Ends): Kind<number> {
  const want = `a number in ${ends[0]}${lo}, ${hi}${ends[1]}`;
  const ok = (v: unknown): v is number =>
    typeof v === 'number' && Number.isFinite(v) && (ends[0] === '[' ? v >= lo : v > lo) && (ends[1] === ']' ? v <= hi : v < hi);
  return {
    range: { type: 'number', lo, hi, ends },
    check: (v) => (ok(v) ? undefined : want),
    parser: (flag) => (text) => {
      const n = Number(text);
      if (!DECIMAL.test(text) || !ok(n)) throw refuse(flag, want, text);
      return n;
    },
    format: String,
  };
}

/** A number in (0, 1]: a share or a per-epoch factor. */
export const fraction = (): Kind<number> => numberIn(0, 1, '(]');

/**
 * One of `values`, matched by their spelling. With a `noun` a wrong value reads "unknown
 * architecture 'x'. --arch should be one of: mlp, dcgan", else "--smooth-real should be one of:
 * fixed, uniform; got 'x'" (both wordings predate this table and are kept).
 */
export function oneOf<const T extends Primitive>(values: readonly T[], noun?: string): Kind<T> {
  const list = values.join(', ');
  return {
    range: { type: 'oneOf', values },
    check: (v) => (values.includes(v as T) ? undefined : `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`),
    parser: (flag) => (text) => {
      const i = values.findIndex((v) => String(v) === text);
      if (i >= 0) return values[i];
      throw new ConfigError(
        noun ? `unknown ${noun} '${text}'. ${flag} should be one of: ${list}` : `${flag} should be one of: ${list}; got '${text}'`,
      );
    },
    format: String,
  };
}

/** A switch: its flag takes no argument, so only a stored value or a test reads it from text. */
export const bool = (): Kind<boolean> => oneOf([true, false]);

/** Layer widths: "256,512,1024" on the command line. */
export function intList(lo: number, hi: number, minLength: number, maxLength: number): Kind<number[]> {
  const counts = `${minLength} to ${maxLength}`;
  return {
    range: { type: 'intList', lo, hi, minLength, maxLength },
    check: (v) =>
      Array.isArray(v) && v.length >= minLength && v.length <= maxLength && v.every((x) => isWhole(x, lo, hi))
        ? undefined
        : `a list of ${counts} whole numbers from ${lo} to ${hi}`,
    parser: (flag) => (text) => {
      if (text === '' && minLength === 0) return [];
      const parts = text.split(',');
      if (!parts.every((p) => WHOLE.test(p) && isWhole(Number(p), lo, hi))) {
        throw new ConfigError(`${flag} must be comma-separated whole numbers from ${lo} to ${hi} (e.g. 256,512), got '${text}'`);
      }
      if (parts.length < minLength || parts.length > maxLength)
        throw new ConfigError(`${flag} must be ${counts} comma-separated whole numbers, got ${parts.length}`);
      return parts.map(Number);
    },
    format: (v) => v.join(','),
  };
}

export function nonEmptyString(): Kind<string> {
  const want = 'a non-empty string';
  return {
    range: { type: 'string' },
    check: (v) => (typeof v === 'string' && v !== '' ? undefined : want),
    parser: (flag) => (text) => {
      if (text === '') throw refuse(flag, want, text);
      return text;
    },
    format: String,
  };
}

/**
 * A file or folder named on the command line: an empty string is a value (the current folder to
 * the file system, nothing at all to a user), never "not given", so it is refused.
 */
/**
 * A file or folder; `below` is how many bytes of names the command may write under it (a run
 * folder's deepest file), so that a path too long to hold them is refused before any write.
 */
export function pathKind(below = 0): Kind<string> {
  return {
    range: { type: 'string' },
    check: (v) => (typeof v === 'string' && v !== '' && !v.includes('\0') ? undefined : 'a non-empty path'),
    parser: (flag) => (text) => {
      if (text === '' || text.includes('\0')) throw refuse(flag, 'a non-empty path', text);
      const tooLong = pathTooLong(text, below);
      if (tooLong) throw new ConfigError(`${flag} cannot be used: ${tooLong}`, 'Use a shorter path');
      return text;
    },
    format: String,
  };
}

// The checks under their earlier names, for the other stored files (checkpoint state.json).
export const isInt = (lo: number, hi: number): Check => int(lo, hi).check;
/** A finite number in (lo, hi) or [lo, hi) per `loInclusive`. */
export const isNumberIn = (lo: number, hi: number, loInclusive = false): Check => numberIn(lo, hi, loInclusive ? '[)' : '()').check;
export const isString: Check = nonEmptyString().check;
