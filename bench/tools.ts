// Small shared helpers of the benches.
import { execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A bash command's trimmed stdout. */
export async function sh(cmd: string, env: Record<string, string> = {}): Promise<string> {
  return (await run("bash", ["-c", cmd], { maxBuffer: 64 << 20, env: { ...process.env, ...env } })).stdout.trim();
}

/** Bytes allocated under a path (du: blocks, not apparent size). */
export async function du(path: string): Promise<number> {
  return Number((await sh(`du -s --block-size=1 ${path} | cut -f1`)) || 0);
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Waits until a daemon answers /v1/health (or whatever answers at all), or its process exits. */
export async function waitForDaemon(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
    const up = await fetch(`${url}/v1/health`).then(() => true, () => false);
    if (up) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the daemon at ${url} did not answer within ${timeoutMs} ms`);
}
