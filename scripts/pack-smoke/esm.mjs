// `import 'mvd'` must resolve to the ES module build (dist/index.js) and run an op.
import * as mvd from 'mvd';
import check from './check.cjs';

await check.check(mvd, 'ESM', import.meta.resolve('mvd'), 'node_modules/mvd/dist/index.js');
await check.embedCheck(mvd, 'ESM', process.argv[2]);
