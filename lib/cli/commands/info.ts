import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../native.js';
import { buildInfo, gpuInfo } from '../../device.js';
import type { Command } from '../command.js';

export function packageVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
}

export function collectInfo() {
  const b = buildInfo();
  const g = gpuInfo();
  return { package: { name: 'mvd', version: packageVersion() }, node: process.version, build: b, gpu: g };
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'versions, build facts (CPU features, GEMM backend, CUDA) and devices',
  usage: 'mvd info [--json]',
  options: { json: { type: 'boolean' } },
  help: { json: 'print JSON' },
  async run(values) {
    const info = collectInfo();
    if (values.json) {
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    const b = info.build;
    const g = info.gpu;
    const rows: [string, string][] = [
      ['package', `mvd ${info.package.version} (node ${info.node})`],
      ['addon', `${b.addonVersion}, N-API ${b.napiVersion}, ${b.compiler}, ${b.buildSystem}, ${b.buildType}`],
      ['CPU features used', b.cpuFeaturesCompiled],
      ['CPU features present', b.cpuFeaturesRuntime],
      ['CPU threads', String(b.cpuThreads)],
      ['GEMM backend', b.gemmBackendDetail],
      ['CUDA compiled', b.cudaCompiled ? `yes, runtime ${b.cudaRuntime}, architectures ${b.cudaArchitectures}` : 'no'],
      [
        'CUDA devices',
        g.devices.length
          ? g.devices.map((d) => `${d.index}: ${d.name} (sm_${d.computeCapability.replace('.', '')}, ${(d.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB)`).join('; ')
          : `none: ${g.reason}${g.hint ? ` (${g.hint})` : ''}`,
      ],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(22)} ${v}`);
    return 0;
  },
};
