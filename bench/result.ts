// What every bench reports: its figures (seconds, bytes, requests per second …) and the ratios
// the issue sets targets for, each with its target and whether this run met it. bench/run.ts
// runs each bench several times, takes the median of every figure and ratio, prints one table
// and writes the JSON. Nothing here asserts: a missed target is reported, not failed.
export interface Figure {
  name: string;
  value: number;
  unit: string;
}

export interface Ratio {
  name: string;
  value: number;
  /** How the target reads, e.g. "≥ 10" or "≤ 1.1". */
  target: string;
  /** Whether `value` meets `target`. */
  met: boolean;
}

export interface BenchResult {
  bench: string;
  figures: Figure[];
  ratios: Ratio[];
  notes?: string[];
}

export function atLeast(name: string, value: number, min: number): Ratio {
  return { name, value, target: `≥ ${min}`, met: value >= min };
}

export function atMost(name: string, value: number, max: number): Ratio {
  return { name, value, target: `≤ ${max}`, met: value <= max };
}

/** Seconds an async call takes, by the monotonic clock. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

/** Prints a result as the one JSON line bench/run.ts reads (the last line of stdout). */
export function report(result: BenchResult): void {
  process.stdout.write(`BENCH-RESULT ${JSON.stringify(result)}\n`);
}
