import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "../src/client/client.ts";
import { buildGuest } from "../src/cli/commands/guest.ts";
import { startDaemon, type Daemon, type DaemonOptions } from "../src/daemon.ts";

const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL("..", import.meta.url));
export const cacheDir = join(repoRoot, ".cache");

export interface TestDaemon {
  daemon: Daemon;
  client: Client;
  token: string;
  dataDir: string;
  /** Runs the imagesmith CLI against this daemon. */
  cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Stops the daemon and kills its VMs; keepVms leaves them running for a daemon started next on the data dir. */
  close(options?: { keepVms?: boolean }): Promise<void>;
}

/** A real daemon on a free port with its own data dir; TCG unless the host really has KVM. */
export async function startTestDaemon(dataDir?: string, options: Partial<Omit<DaemonOptions, "dataDir" | "listen">> = {}): Promise<TestDaemon> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "imagesmith-test-")));
  const daemon = await startDaemon({ listen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", accelerator: "auto", shutdownTimeoutMs: 30_000, logLevel: "warn", ...options, dataDir: dir });
  const token = (await readFile(join(dir, "admin-token"), "utf8")).trim();
  const client = new Client(daemon.url, token);
  return {
    daemon,
    client,
    token,
    dataDir: dir,
    cli: (args) => runCli(daemon.url, token, args),
    close: async (o = {}) => {
      await daemon.close();
      if (!o.keepVms) await killVmsOf(dir);
    },
  };
}

/** Kills every QEMU process whose disks are in dataDir: a closed test daemon leaves none behind. */
export async function killVmsOf(dataDir: string): Promise<void> {
  const { stdout } = await run("pgrep", ["-af", "process=imagesmith-i-"]).catch(() => ({ stdout: "" }));
  for (const line of stdout.split("\n").filter((l) => l.includes(`${dataDir}/`))) {
    const pid = Number(line.split(" ")[0]);
    if (pid > 0) process.kill(pid, "SIGKILL");
  }
}

/** Runs the imagesmith CLI against a daemon. */
export async function runCli(url: string, token: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run("node", [join(repoRoot, "bin/imagesmith.js"), "--endpoint", url, "--token", token, ...args], {
      maxBuffer: 16 << 20,
      env: { ...process.env, IMAGESMITH_CACHE_DIR: cacheDir },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: e.code ?? 1 };
  }
}

/** The tiny guest's disk, built once and cached in .cache/. */
export async function tinyGuest(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagesmith-guest-"));
  return buildGuest(join(dir, "tiny.qcow2"), cacheDir);
}

/** A real Debian 12 cloud image (Debian's packages, unmodified cloud-init), built once and cached in .cache/. */
export async function debianGuest(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagesmith-debian-"));
  return buildGuest(join(dir, "debian-12.qcow2"), cacheDir, "debian-12");
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** PIDs of QEMU processes whose command line names this instance. */
export async function qemuPids(instanceId: string): Promise<string[]> {
  const { stdout } = await run("pgrep", ["-f", `process=imagesmith-${instanceId}`]).catch(() => ({ stdout: "" }));
  return stdout.split("\n").filter(Boolean);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const sh = (cmd: string) => run("bash", ["-c", cmd], { maxBuffer: 64 << 20 }).then((r) => r.stdout.trim());

/** A free 127.0.0.1 port. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** The daemon as its own process (imagesmith serve), for tests that kill it. */
export async function spawnDaemon(
  dataDir: string,
  options: { logFile?: string; extraArgs?: string[] } = {},
): Promise<{ url: string; pid: number; client: Client; token: string; cli: TestDaemon["cli"]; kill: (signal: NodeJS.Signals) => Promise<void> }> {
  const { spawn } = await import("node:child_process");
  const { openSync } = await import("node:fs");
  const log = options.logFile ? openSync(options.logFile, "a") : "pipe";
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn("node", [join(repoRoot, "bin/imagesmith.js"), "--data-dir", dataDir, "serve", "--listen", `127.0.0.1:${port}`, "--ec2-listen", "off", "--accel", "tcg", ...(options.extraArgs ?? [])], {
    stdio: ["ignore", log, log],
    env: { ...process.env, IMAGESMITH_LOG_LEVEL: options.logFile ? "info" : "warn" },
  });
  // Without a log file, the last few KiB the daemon printed are kept, to say why it never answered.
  let tail = "";
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString("utf8")).slice(-8192));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exitedWith: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitedWith = signal ?? String(code);
      resolve();
    }),
  );
  const answered = async () => {
    if (exitedWith !== undefined) throw new Error(`The daemon exited (${exitedWith}) before it answered:\n${tail}`);
    return (await fetch(`${url}/v1/health`).then((r) => r.ok, () => false)) || undefined;
  };
  await waitFor("the daemon to answer", answered, 60_000).catch((err: Error) => {
    child.kill("SIGKILL");
    throw new Error(`${err.message}${exitedWith === undefined && tail ? `; it printed:\n${tail}` : ""}`);
  });
  const token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  return {
    url,
    pid: child.pid ?? 0,
    client: new Client(url, token),
    token,
    cli: (args) => runCli(url, token, args),
    kill: async (signal) => {
      child.kill(signal);
      await exited;
    },
  };
}

/** mulberry32: a small seeded generator, so that a test's random choices can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
