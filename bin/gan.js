#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
let cli;
try {
  cli = require('../dist/src/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli.js')) {
    process.stderr.write('gan: error: the program is not built. Run `npm ci` (or `npm run build`) in the gan folder\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv);
