// `require('mvd')` must resolve to the CommonJS build (dist/cjs/index.js) and run an op.
'use strict';
const mvd = require('mvd');
const { check, embedCheck } = require('./check.cjs');

check(mvd, 'CommonJS', require.resolve('mvd'), 'node_modules/mvd/dist/cjs/index.js').then(() => embedCheck(mvd, 'CommonJS', process.argv[2])).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
