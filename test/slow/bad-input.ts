/**
 * Every bad input we know of, through the real command. Each row states what it expects, the
 * exit code and a pattern of the message, and fails if either differs, if a failing command
 * prints more than one line or a stack, or if it changed anything on disk. Rows that go on
 * (a damaged run that resumes, a hint that is run) also run the way on and check it works.
 * Rows that cannot run here are SKIPPED with the reason and counted apart. Prints Markdown
 * tables and the counts; exits 1 if any row failed.
 *
 *   npm run test:bad-input
 *
 * The disk rows mount a tmpfs (they need root, and are skipped without it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Fixtures } from './bad-input/fixtures';
import { printTables, type Outcome } from './bad-input/harness';
import { earlierRows } from './bad-input/earlier';
import { diskRows, stopRows } from './bad-input/stops';
import * as classes from './bad-input/classes';

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-bad-'));
  const t0 = Date.now();
  try {
    const f = new Fixtures(work);
    const rows: Outcome[] = [
      ...earlierRows(f),
      ...diskRows(f),
      ...(await stopRows(f)),
      // Issue 19: a table per class of fault.
      ...classes.damagedRows(f),
      ...classes.sizeRows(f),
      ...classes.untrustedRows(f),
      ...classes.stringRows(f),
      ...classes.pathRows(f),
      ...(await classes.stopRows(f)),
      ...classes.cheapRows(f),
    ];
    const failed = printTables(rows);
    console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    if (failed) process.exitCode = 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
