import { benchGemm, formatGemm } from '../../bench/gemm.js';
import { UsageError, type Command } from '../command.js';

const SUITES = ['gemm'] as const;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmarks: kernel throughput against roofs measured in the same run',
  usage: `mvd bench <${SUITES.join('|')}> [--quick] [--json]`,
  options: { quick: { type: 'boolean' }, json: { type: 'boolean' } },
  help: { quick: 'fewer shapes and shorter runs (a smoke run)', json: 'print JSON' },
  async run(values, positionals) {
    const suite = positionals[0] ?? 'gemm';
    if (suite !== 'gemm') throw new UsageError(`unknown benchmark '${suite}' (one of: ${SUITES.join(', ')})`);
    const r = await benchGemm({ quick: !!values.quick });
    console.log(values.json ? JSON.stringify(r, null, 2) : formatGemm(r));
    return 0;
  },
};
