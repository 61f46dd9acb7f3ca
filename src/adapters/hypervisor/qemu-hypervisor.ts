import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { Hypervisor, Vm, VmSpec } from "../../core/ports.ts";
import type { VmRuntime } from "../../core/types.ts";
import { qemuArgs, type Accelerator } from "./qemu-args.ts";
import { QgaClient } from "./qga-client.ts";
import { QmpClient } from "./qmp-client.ts";

const run = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One QEMU process, driven over QMP. */
class QemuVm implements Vm {
  readonly exited: Promise<void>;

  constructor(
    readonly runtime: VmRuntime,
    private readonly qmp: QmpClient,
  ) {
    this.exited = new Promise((resolve) => {
      if (qmp.isClosed) resolve();
      else qmp.once("close", () => resolve());
    });
  }

  async shutdown(timeoutMs: number): Promise<void> {
    await this.qmp.execute("system_powerdown").catch(() => undefined);
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref()),
    ]);
    if (timedOut) await this.kill();
  }

  async reset(): Promise<void> {
    await this.qmp.execute("system_reset");
  }

  async pause(): Promise<void> {
    await this.qmp.execute("stop");
  }

  async resume(): Promise<void> {
    await this.qmp.execute("cont");
  }

  async freezeFilesystems(): Promise<(() => Promise<void>) | undefined> {
    const qga = await this.connectAgent();
    if (!qga) return undefined;
    try {
      const frozen = await qga.execute("guest-fsfreeze-freeze", undefined, 30_000);
      if (typeof frozen !== "number" || frozen < 1) throw new Error("no filesystem frozen");
    } catch {
      await qga.execute("guest-fsfreeze-thaw", undefined, 10_000).catch(() => undefined);
      qga.close();
      return undefined;
    }
    return async () => {
      try {
        await qga.execute("guest-fsfreeze-thaw", undefined, 30_000);
      } finally {
        qga.close();
      }
    };
  }

  /** The guest agent's channel, beside the QMP socket in the run dir; undefined when no agent answers. */
  private connectAgent(): Promise<QgaClient | undefined> {
    return QgaClient.connect(join(dirname(this.runtime.qmpSocket), "qga.sock"), 2000);
  }

  async agentAnswers(): Promise<boolean> {
    const qga = await this.connectAgent();
    if (!qga) return false;
    try {
      await qga.execute("guest-ping", undefined, 2000);
      return true;
    } catch {
      return false;
    } finally {
      qga.close();
    }
  }

  async undoInterruptedFreeze(): Promise<string[]> {
    const undone: string[] = [];
    const status = (await this.qmp.execute("query-status")) as { status?: string } | undefined;
    if (status?.status === "paused") {
      await this.qmp.execute("cont");
      undone.push("resumed the paused vCPUs");
    }
    const qga = await this.connectAgent();
    if (qga) {
      try {
        if ((await qga.execute("guest-fsfreeze-status", undefined, 10_000)) === "frozen") {
          await qga.execute("guest-fsfreeze-thaw", undefined, 30_000);
          undone.push("thawed the guest's filesystems");
        }
      } catch {
        // the agent does not answer: nothing it froze can be thawed through it
      } finally {
        qga.close();
      }
    }
    return undone;
  }

  async kill(): Promise<void> {
    await this.qmp.execute("quit").catch(() => undefined);
    const gone = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    if (!gone && processAlive(this.runtime.pid)) process.kill(this.runtime.pid, "SIGKILL");
    await this.exited;
  }

  release(): void {
    this.qmp.close();
  }

  async openSsh(): Promise<number> {
    if (this.runtime.sshPort) return this.runtime.sshPort;
    const port = await freePort();
    const reply = await this.qmp.execute("human-monitor-command", {
      "command-line": `hostfwd_add net0 tcp:127.0.0.1:${port}-:22`,
    });
    if (typeof reply === "string" && reply.trim()) throw new Error(`SSH forward failed: ${reply.trim()}`);
    this.runtime.sshPort = port;
    return port;
  }
}

export class QemuHypervisor implements Hypervisor {
  constructor(readonly accelerator: Accelerator) {}

  async start(spec: VmSpec): Promise<Vm> {
    const qmpSocket = join(spec.runDir, "qmp.sock");
    const qgaSocket = join(spec.runDir, "qga.sock");
    const pidFile = join(spec.runDir, "qemu.pid");
    await rm(qmpSocket, { force: true });
    await rm(qgaSocket, { force: true });
    const args = qemuArgs(spec, this.accelerator, { qmpSocket, qgaSocket, pidFile });
    try {
      await run("qemu-system-x86_64", args, { timeout: 30_000 });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`QEMU failed to start ${spec.instanceId}: ${stderr || (err as Error).message}`);
    }
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    const qmp = await QmpClient.connect(qmpSocket);
    return new QemuVm({ pid, qmpSocket, sshPort: 0 }, qmp);
  }

  async reattach(spec: VmSpec, recorded: VmRuntime | null): Promise<Vm | undefined> {
    const runtime = recorded?.pid ? recorded : await this.runtimeInRunDir(spec);
    if (!runtime || !processAlive(runtime.pid)) return undefined;
    const cmdline = await readFile(`/proc/${runtime.pid}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.includes(spec.instanceId)) return undefined;
    const qmp = await QmpClient.connect(runtime.qmpSocket).catch(() => undefined);
    return qmp ? new QemuVm(runtime, qmp) : undefined;
  }

  /** What start() leaves in the run dir: QEMU's pid file and its QMP socket. */
  private async runtimeInRunDir(spec: VmSpec): Promise<VmRuntime | undefined> {
    const pid = Number((await readFile(join(spec.runDir, "qemu.pid"), "utf8").catch(() => "")).trim());
    return pid > 0 ? { pid, qmpSocket: join(spec.runDir, "qmp.sock"), sshPort: 0 } : undefined;
  }

}
