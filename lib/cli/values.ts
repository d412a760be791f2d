// The checked values of one invocation, read by name with the type the flag table declares.
import type { FlagTable, FlagValue } from './flags.js';

export class Flags {
  constructor(
    readonly command: string,
    readonly table: FlagTable,
    private readonly values: Map<string, FlagValue>,
    /** Names set on the command line or in --config (not by a default). */
    private readonly explicit: ReadonlySet<string>,
  ) {}

  /** Whether the user set the flag (a default does not count). */
  given(name: string): boolean {
    return this.explicit.has(this.known(name));
  }

  private get(name: string): FlagValue | undefined {
    return this.values.get(this.known(name));
  }

  private known(name: string): string {
    // A name missing from the table is a bug in the command, not in the user's input.
    if (!(name in this.table)) throw new Error(`mvd ${this.command}: flag --${name} is not declared`);
    return name;
  }

  private need<T>(name: string, x: T | undefined): T {
    if (x === undefined) throw new Error(`mvd ${this.command}: --${name} has no value and no default`);
    return x;
  }

  optNum(name: string): number | undefined {
    return this.get(name) as number | undefined;
  }
  num(name: string): number {
    return this.need(name, this.optNum(name));
  }
  optStr(name: string): string | undefined {
    return this.get(name) as string | undefined;
  }
  str(name: string): string {
    return this.need(name, this.optStr(name));
  }
  /** A word-valued flag, already checked against its word list. */
  word<T extends string>(name: string): T {
    return this.str(name) as T;
  }
  optWord<T extends string>(name: string): T | undefined {
    return this.optStr(name) as T | undefined;
  }
  bool(name: string): boolean {
    return this.get(name) === true;
  }
  numbers(name: string): number[] {
    return this.need(name, this.get(name) as number[] | undefined);
  }

  /** Every value set (given or defaulted) but `skip`: the configuration a run records. */
  record(skip: readonly string[] = []): Record<string, FlagValue> {
    return Object.fromEntries([...this.values].filter(([k]) => !skip.includes(k)));
  }
}
