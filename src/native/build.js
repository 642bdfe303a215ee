#!/usr/bin/env node
'use strict';
// Builds the optional native SGEMM addon (src/native/addon.cc) with node-gyp, at install time
// (the package's `prepare` script). It is optional on purpose: a machine without a C++
// toolchain, or a non-x86 one, gets a one-line note and the wasm kernels, and `npm ci` succeeds.
// GAN_NATIVE=0 skips it.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
if (process.env.GAN_NATIVE === '0') {
  console.log('gan: native GEMM build skipped (GAN_NATIVE=0); training uses the wasm kernels');
  process.exit(0);
}

// npm tells lifecycle scripts where its bundled node-gyp is; outside npm, look beside npm.
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    const npmDir = path.dirname(path.dirname(fs.realpathSync(process.env.npm_execpath || '')));
    candidates.push(path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {}
  candidates.push(
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  return candidates.find((c) => c && fs.existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) {
  console.log('gan: native GEMM not built (node-gyp not found); training uses the wasm kernels');
  process.exit(0);
}
// Build against the headers of the running Node when they are installed beside it (Debian's
// nodejs, or npm's nodedir setting), so no header download is needed.
const args = [gyp, 'rebuild', '--directory', here];
const prefix = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
if (r.status !== 0) {
  const why = `${r.stderr || ''}${r.stdout || ''}`.split('\n').find((l) => /error/i.test(l)) || `exit ${r.status}`;
  console.log(`gan: native GEMM not built (${why.trim().slice(0, 200)}); training uses the wasm kernels`);
  process.exit(0);
}
console.log('gan: native GEMM built (src/native/build/Release/gemm.node)');
