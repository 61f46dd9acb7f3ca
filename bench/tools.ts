// Small shared helpers of the benches.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

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

/** A free 127.0.0.1 port. */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/**
 * `imagesmith serve` as its own process, as shipped (bin/imagesmith.js: the compiled build
 * when current), its log to a file, so a bench's load or client does not share its event loop.
 */
export async function spawnDaemon(dataDir: string, logFile: string): Promise<{ url: string; ec2Url: string; child: ChildProcess }> {
  const [port, ec2Port] = [await freePort(), await freePort()];
  const log = openSync(logFile, "a");
  const args = ["bin/imagesmith.js", "--data-dir", dataDir, "serve", "--listen", `127.0.0.1:${port}`, "--ec2-listen", `127.0.0.1:${ec2Port}`, "--accel", "tcg"];
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = process.env.BENCH_DAEMON_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, stdio: ["ignore", log, log] });
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  for (const started = Date.now(); !(await fetch(`${url}/v1/health`).then((r) => r.ok, () => false)); ) {
    if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error(`The daemon did not answer (see ${logFile})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, ec2Url: `http://127.0.0.1:${ec2Port}/ec2/`, child };
}

/** Stops the daemon and waits for it to exit (SIGKILL after 10 s). */
export async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
