// Teacher-target cache for MVD distillation (`mvd distill --teacher-cache DIR`).
//
// An APPROXIMATION of the recipe: SPEC §3.1 draws a new multi-scale crop and temporal start every
// time a clip is loaded, so teacher features cannot be reused exactly (SPEC §3.8). With the cache,
// each clip is shown through one fixed view (the synthetic clip as rendered; for video files the
// centre window and centre crop), the frozen teacher runs on it once, and its full pre-norm
// feature map [N, C] is stored. Later epochs gather the masked tokens from the stored map, so the
// masks still change every step; only the crop augmentation is lost.
//
// Files: DIR/<kind>-<teacher weight hash>/<clip id>__<view>.safetensors, one tensor "features".
// The hash covers every teacher weight (names, shapes, bytes), so other weights never hit stale
// entries; the view key covers frames, size and the crop rule.
//
// Data-parallel runs share one folder, sharded by rank: a rank computes and writes the entries of
// the clips in its own shard of the epoch (the loader gives each clip to one rank per epoch), and
// reads the entries other ranks wrote when a later epoch hands it their clips. Files are written
// to a temporary name and renamed, so a rank never reads half of another's file, and each entry
// records the rank that wrote it. totals() sums the counts over the ranks.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '../tensor.js';
import { ShapeError } from '../errors.js';
import type { Teacher } from '../nn/mvd.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { world } from '../dist/world.js';
import { averageNumbers } from '../dist/collectives.js';

/** First 16 hex digits of SHA-256 over the teacher's weights in name order. */
export async function teacherHash(teacher: Teacher): Promise<string> {
  const h = createHash('sha256');
  const named = teacher.encoder.namedParameters().sort((a, b) => (a[0] < b[0] ? -1 : 1));
  h.update(`${teacher.kind};`);
  for (const [name, p] of named) {
    const data = await p.value.toArray();
    h.update(`${name}[${p.value.shape}]`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);

/** How a TeacherCache names its files: a stable clip id per dataset index and the key of the fixed view. */
export interface TeacherCacheOptions {
  /** Stable id of a dataset index (synthetic seed + index, or the video path). */
  clipId: (index: number) => string;
  /** Key of the fixed view the source gives (frames, size, crop rule). */
  view: string;
}

/**
 * Stored full pre-norm teacher features per clip (an approximation: one fixed view; see the top of
 * this file). Open it with TeacherCache.open, which hashes the teacher's weights into the folder name.
 */
export class TeacherCache {
  /** Clips the teacher was run on (cache misses). */
  forwards = 0;
  /** Clips served from files. */
  hits = 0;
  readonly folder: string;

  private constructor(
    readonly teacher: Teacher,
    readonly hash: string,
    dir: string,
    readonly o: TeacherCacheOptions,
  ) {
    this.folder = join(dir, `${teacher.kind}-${hash}`);
  }

  static async open(dir: string, teacher: Teacher, o: TeacherCacheOptions): Promise<TeacherCache> {
    const c = new TeacherCache(teacher, await teacherHash(teacher), dir, o);
    await mkdir(c.folder, { recursive: true });
    return c;
  }

  /**
   * Clips computed and clips read, summed over the ranks of a data-parallel run (this rank's own
   * counts alone). Every rank must call it at the same point (it is a collective).
   */
  async totals(): Promise<{ forwards: number; hits: number }> {
    const [f, h] = await averageNumbers([this.forwards, this.hits]);
    const n = world().size;
    return { forwards: Math.round(f * n), hits: Math.round(h * n) };
  }

  pathOf(index: number): string {
    return join(this.folder, `${safeName(this.o.clipId(index))}__${safeName(this.o.view)}.safetensors`);
  }

  /**
   * Full teacher features [B, N, C] for a batch (video [B, C, T, H, W] from dataset `indices`):
   * stored rows are read, the rest computed in one teacher batch and written.
   */
  async features(video: Tensor, indices: number[]): Promise<Tensor> {
    const B = video.shape[0];
    if (indices.length !== B) throw new ShapeError(`TeacherCache: ${indices.length} indices for a batch of ${B}`, { op: 'teacherCache' });
    const rows: (Tensor | null)[] = [];
    for (const i of indices) {
      const p = this.pathOf(i);
      if (!existsSync(p)) {
        rows.push(null);
        continue;
      }
      const { tensors } = await loadSafetensors(p);
      rows.push(tensors.get('features')!);
    }
    const missing = rows.map((r, b) => (r ? -1 : b)).filter((b) => b >= 0);
    let computed: Tensor | null = null;
    if (missing.length) {
      let sub: Tensor;
      if (missing.length === B) sub = video.retain();
      else {
        sub = Tensor.empty([missing.length, ...video.shape.slice(1)]);
        missing.forEach((b, k) => {
          using d = sub.slice(k, k + 1);
          using s = video.slice(b, b + 1);
          d.assign(s as Tensor<'f32'>);
        });
      }
      computed = this.teacher.features(sub);
      sub.dispose();
      this.forwards += missing.length;
      for (let k = 0; k < missing.length; k++) {
        const b = missing[k];
        using row = computed.slice(k, k + 1);
        using flat = row.reshape(row.shape.slice(1));
        await saveSafetensors(
          this.pathOf(indices[b]),
          { features: flat },
          {
            teacher: this.hash,
            kind: this.teacher.kind,
            clip: this.o.clipId(indices[b]),
            view: this.o.view,
            rank: `${world().rank} of ${world().size}`,
          },
        );
      }
    }
    this.hits += B - missing.length;
    const [n, c] = computed ? computed.shape.slice(1) : rows.find((r) => r)!.shape;
    const out = Tensor.empty([B, n, c]);
    for (let b = 0, k = 0; b < B; b++) {
      using d = out.slice(b, b + 1);
      const r = rows[b];
      if (r) {
        if (r.shape[0] !== n || r.shape[1] !== c)
          throw new ShapeError(`${this.pathOf(indices[b])}: cached features [${r.shape}] but the teacher gives [${n},${c}]`, {
            op: 'teacherCache',
          });
        using rv = r.reshape(d.shape);
        d.assign(rv as Tensor<'f32'>);
        r.dispose();
      } else {
        using s = computed!.slice(k, k + 1);
        d.assign(s as Tensor<'f32'>);
        k++;
      }
    }
    computed?.dispose();
    return out;
  }
}
