// The demo's intervals and verdicts: how sure a cell is, whether it is above chance, and whether
// one encoder beats another. One seed: the binomial interval of an accuracy over the val clips.
// Several seeds: Student's t over the seeds' accuracies (seed-to-seed spread includes the val
// sampling noise, and it is what a reader re-running the demo would see).
import { ValueError } from '../errors.js';

/** Two-sided 97.5% quantiles of Student's t for 1..10 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

export interface Interval {
  mean: number;
  /** Half-width of the 95% interval. */
  half: number;
  lo: number;
  hi: number;
}

/** 95% interval of an accuracy: over seeds when there are several, binomial over `clips` for one. */
export function accuracyInterval(perSeed: number[], clips: number): Interval {
  if (!perSeed.length) throw new ValueError('accuracyInterval: no values given, expected one per seed');
  if (!(Number.isInteger(clips) && clips > 0)) throw new ValueError(`accuracyInterval: clips must be a positive integer, got ${clips}`);
  if (perSeed.length > 1) return tInterval(perSeed);
  const mean = perSeed[0];
  const half = 1.96 * Math.sqrt(Math.max(mean * (1 - mean), 1 / clips) / clips);
  return { mean, half, lo: mean - half, hi: mean + half };
}

/** Student's t 95% interval of the mean of 2 or more values. */
function tInterval(xs: number[]): Interval {
  const k = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / k;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (k - 1));
  const half = (T975[k - 2] ?? 1.96) * (sd / Math.sqrt(k));
  return { mean, half, lo: mean - half, hi: mean + half };
}

/**
 * 95% t-interval of the mean of paired differences (one per seed; null for fewer than 2). The
 * demo's rows share each seed's data, val clips, fine-tuning order and (with shrink-and-perturb)
 * random-init part, so a row's difference to random init at the same seed removes most of the
 * seed-to-seed spread that the cells' own intervals carry.
 */
export function pairedDifference(a: number[], b: number[]): Interval | null {
  if (a.length !== b.length) throw new ValueError(`pairedDifference: ${a.length} and ${b.length} values, expected one pair per seed`);
  return a.length < 2 ? null : tInterval(a.map((x, i) => x - b[i]));
}

/** Above chance: the whole interval lies above the chance rate. */
export function aboveChance(c: Interval, chance: number): boolean {
  return c.lo > chance;
}

/** `a` beats `b` beyond the interval: the two 95% intervals do not overlap (conservative). */
export function beats(a: Interval, b: Interval): boolean {
  return a.lo > b.hi;
}

/** Half-width of the band a chance-level classifier lands in on `clips` clips (binomial, 95%). */
export function chanceBand(chance: number, clips: number): number {
  return 1.96 * Math.sqrt((chance * (1 - chance)) / clips);
}

export interface DemoRowLike {
  encoder: string;
  kind: string;
  finetuned: Record<'appearance' | 'motion', number>;
  probe: Record<'appearance' | 'motion', number>;
}

export interface DemoSummaryRow {
  encoder: string;
  kind: string;
  finetuned: Record<'appearance' | 'motion', Interval>;
  probe: Record<'appearance' | 'motion', Interval>;
}

export interface DemoSummary {
  rows: DemoSummaryRow[];
  /** Per task: is the random-init control (fine-tuned from scratch) above chance? */
  controlAboveChance: Record<'appearance' | 'motion', boolean>;
  /** Per task: the pretrained encoders whose fine-tuned interval lies above random init's. */
  beatRandom: Record<'appearance' | 'motion', string[]>;
  /** Per task: the pretrained encoders whose probe interval lies above random init's probe. */
  probeBeatRandom: Record<'appearance' | 'motion', string[]>;
  /**
   * Per task (2+ seeds): each pretrained encoder's fine-tuned accuracy minus random init's at the
   * same seed, as a t-interval over the seeds; empty for one seed.
   */
  pairedVsRandom: Record<'appearance' | 'motion', { encoder: string; diff: Interval }[]>;
}

/** Intervals of every cell over the seeds' results, and the verdicts the demo prints. */
export function summarizeDemo(perSeed: DemoRowLike[][], valClips: number, chance = 0.25): DemoSummary {
  if (!perSeed.length) throw new ValueError('summarizeDemo: no results given, expected one per seed');
  const names = perSeed[0].map((r) => r.encoder);
  for (const rows of perSeed)
    if (rows.length !== names.length || rows.some((r, i) => r.encoder !== names[i]))
      throw new ValueError(
        `summarizeDemo: every seed must have the rows ${names.join(', ')}; got ${rows.map((r) => r.encoder).join(', ')}`,
      );
  const rows = names.map((encoder, i) => {
    const cell = (k: 'finetuned' | 'probe', task: 'appearance' | 'motion') =>
      accuracyInterval(
        perSeed.map((s) => s[i][k][task]),
        valClips,
      );
    return {
      encoder,
      kind: perSeed[0][i].kind,
      finetuned: { appearance: cell('finetuned', 'appearance'), motion: cell('finetuned', 'motion') },
      probe: { appearance: cell('probe', 'appearance'), motion: cell('probe', 'motion') },
    };
  });
  const control = rows.find((r) => r.kind === 'control');
  if (!control) throw new ValueError(`summarizeDemo: no 'control' row (random init) among ${names.join(', ')}`);
  const per = <T>(f: (task: 'appearance' | 'motion') => T) => ({ appearance: f('appearance'), motion: f('motion') });
  return {
    rows,
    controlAboveChance: per((t) => aboveChance(control.finetuned[t], chance)),
    beatRandom: per((t) => rows.filter((r) => r !== control && beats(r.finetuned[t], control.finetuned[t])).map((r) => r.encoder)),
    probeBeatRandom: per((t) => rows.filter((r) => r !== control && beats(r.probe[t], control.probe[t])).map((r) => r.encoder)),
    pairedVsRandom: per((t) => {
      const ci = rows.indexOf(control);
      const of = (i: number) => perSeed.map((s) => s[i].finetuned[t]);
      return rows.flatMap((r, i) => {
        const diff = r === control ? null : pairedDifference(of(i), of(ci));
        return diff ? [{ encoder: r.encoder, diff }] : [];
      });
    }),
  };
}

/** Where `a` stands against `b`: above or below beyond both intervals, or within them. */
export function compare(a: Interval, b: Interval): 'above' | 'below' | 'within' {
  return beats(a, b) ? 'above' : beats(b, a) ? 'below' : 'within';
}
