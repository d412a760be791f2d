// Builds a ClipSource from its plain-data description (what loader workers receive).
import { ValueError } from '../errors.js';
import { VideoClipDataset } from './datasets.js';
import { SyntheticDataset } from './synthetic.js';
import type { BadVideoReport, ClipSource, DatasetSpec } from './types.js';

/**
 * Builds the ClipSource a DatasetSpec describes (what loader workers do with the spec they receive);
 * `onBad` reaches VideoClipDataset only.
 */
export function createDataset(spec: DatasetSpec, hooks: { onBad?: (r: BadVideoReport) => void } = {}): ClipSource {
  switch (spec.kind) {
    case 'videos':
      return new VideoClipDataset({
        items: spec.items,
        transform: spec.transform,
        onBadVideo: spec.onBadVideo,
        maxSkips: spec.maxSkips,
        minFrames: spec.minFrames,
        decodeThreads: spec.decodeThreads,
        timeoutMs: spec.timeoutMs,
        onBad: hooks.onBad,
      });
    case 'synthetic':
      return new SyntheticDataset(spec);
    default:
      throw new ValueError(`unknown dataset kind '${(spec as { kind: string }).kind}'`);
  }
}
