// `require('mvd')` must resolve to the CommonJS build (dist/cjs/index.js) and run an op.
'use strict';
const mvd = require('mvd');
const { check } = require('./check.cjs');

check(mvd, 'CommonJS', require.resolve('mvd'), 'node_modules/mvd/dist/cjs/index.js').catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
