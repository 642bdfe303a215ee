/**
 * The layout docs/architecture.md's "Layout" section describes: only the entry points at the top of src/, and
 * no import cycle between modules (type-only imports included: a cycle of types is still two
 * modules that cannot be read apart). Read from the TypeScript sources, no backend needed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'build' ? [] : sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** The modules a file imports by a relative path (import, export ... from, import()), resolved to files. */
function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport\()\s*['"](\.{1,2}(?:\/[^'"]*)?)['"]/g)) {
    const base = path.resolve(path.dirname(file), m[1].replace(/\.js$/, ''));
    const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Every import cycle found by depth-first search, as "a -> b -> a". */
export function importCycles(files: string[]): string[] {
  const graph = new Map(files.map((f) => [f, relativeImports(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].map((p) => path.relative(SRC, p)).join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

test('src/ has no import cycle', () => {
  assert.deepEqual(importCycles(sourceFiles(SRC)), []);
});

test('the cycle finder finds a cycle (two temporary modules importing each other)', () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'gan-cycle-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b';\nexport const a = 1;\n");
    fs.writeFileSync(path.join(dir, 'b.ts'), "import type { a } from './a';\nexport const b = 2;\n");
    assert.equal(importCycles([path.join(dir, 'a.ts'), path.join(dir, 'b.ts')]).length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('only the entry points sit at the top of src/: the command line and the library', () => {
  const top = fs
    .readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  assert.deepEqual(top, ['cli.ts', 'index.ts']);
});
