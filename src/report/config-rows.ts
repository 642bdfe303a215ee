/**
 * The report's configuration table: the run's settings under the flags that set them, and only
 * those that do something in this run (no --channels for an MLP, no trick that is off, no
 * smoothing variant without smoothing, and with smoothing both variants, on or off). Settings no flag sets are listed only when a stored run
 * holds another value than the default.
 */
import { SETTING_LIST, type Setting } from '../config';

/** A value as the flag would be written; a switch reads on or off. */
function flagValue(s: Setting<unknown>, v: unknown): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return s.kind.format(v);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** [flag (or setting name), value] for each setting of a stored config that applies to the run. */
export function configRows(config: Record<string, unknown>): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const [key, s] of SETTING_LIST) {
    const v = config[key];
    if (v === undefined || (s.applies && !s.applies(config))) continue;
    const atDefault = same(v, s.default);
    // A trick at its default is off (its variants, which apply only when it is on, are shown
    // then); a setting no flag sets is the program's constant.
    if (atDefault && ((s.group === 'trick' && !s.applies) || !s.flag)) continue;
    rows.push([s.flag ? s.flag.split(' ')[0] : key, flagValue(s, v)]);
  }
  return rows;
}
