// Progress output: a one-line bar with ETA, loss, lr and clips/s on a TTY; plain lines otherwise.
import type { StepRecord } from '../methods/train.js';

export class Progress {
  private start = performance.now();
  private stage = '';
  private stageStart = performance.now();
  constructor(
    private readonly tty = !!process.stderr.isTTY,
    private readonly quiet = false,
  ) {}

  update(stage: string, total: number, rec?: StepRecord, clipsPerStep = 0): void {
    if (this.quiet) return;
    if (stage !== this.stage) {
      if (this.tty && this.stage) process.stderr.write('\n');
      this.stage = stage;
      this.stageStart = performance.now();
      if (!this.tty) process.stderr.write(`[${this.elapsed()}] ${stage}\n`);
    }
    if (!rec) return;
    const done = rec.step,
      el = (performance.now() - this.stageStart) / 1000;
    const eta = done > 0 ? (el / done) * (total - done) : 0;
    const loss = Object.entries(rec.losses)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(' ');
    const speed = clipsPerStep && rec.seconds > 0 ? ` ${(clipsPerStep / rec.seconds).toFixed(1)} clips/s` : '';
    if (this.tty) {
      const w = 24,
        filled = Math.round((w * done) / Math.max(1, total));
      process.stderr.write(
        `\r${stage} [${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${done}/${total} ETA ${eta.toFixed(0)}s ${loss} lr ${rec.lr.toExponential(2)}${speed}   `,
      );
    } else if (done % 50 === 0 || done === total) {
      process.stderr.write(`  step ${done}/${total} ${loss} lr ${rec.lr.toExponential(2)}${speed} ETA ${eta.toFixed(0)}s\n`);
    }
  }

  done(): void {
    if (this.tty && !this.quiet && this.stage) process.stderr.write('\n');
  }

  private elapsed(): string {
    return `${((performance.now() - this.start) / 1000).toFixed(0)}s`;
  }
}
