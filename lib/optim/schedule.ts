// Learning-rate schedules, per optimiser step (SPEC §3.7): linear warmup from 0, then cosine to min.
/** A warmup + cosine lr schedule, in optimiser steps (not epochs). */
export interface CosineSchedule {
  /** Peak lr (already scaled with batch). */
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * lr at `step`: linear from 0 over warmupSteps, then cosine from lr to minLr; held at minLr after totalSteps.
 */
export function cosineLr(s: CosineSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * step) / s.warmupSteps;
  const cosSteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const i = Math.min(step - s.warmupSteps, cosSteps);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos((Math.PI * i) / cosSteps));
}

/** SPEC §3.7: lr = base × total batch / 256 (the same for min_lr). */
export function scaleLr(base: number, totalBatch: number): number {
  return (base * totalBatch) / 256;
}
