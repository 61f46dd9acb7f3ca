import { randomInt } from "node:crypto";
import { createConnection, type Socket } from "node:net";

/**
 * A QEMU guest agent over its unix socket: line-delimited JSON, opened with
 * guest-sync so stale replies from an earlier client are skipped. Guests that
 * run no agent never answer, so every call has a time limit.
 */
export class QgaClient {
  private buffer = "";
  private waiter: ((line: string) => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line) this.waiter?.(line);
      }
    });
    socket.on("error", () => socket.destroy());
  }

  /** A client whose agent answered guest-sync within timeoutMs, or undefined. */
  static async connect(path: string, timeoutMs: number): Promise<QgaClient | undefined> {
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = createConnection(path);
      s.once("connect", () => resolve(s));
      s.once("error", () => resolve(undefined));
    });
    if (!socket) return undefined;
    const client = new QgaClient(socket);
    const id = randomInt(1, 2 ** 31);
    const synced = await client.execute("guest-sync", { id }, timeoutMs, (r) => r === id).catch(() => undefined);
    if (synced === undefined) {
      client.close();
      return undefined;
    }
    return client;
  }

  /** Sends a command and resolves with the first reply that `accept` takes (any reply by default). */
  execute(command: string, args: Record<string, unknown> | undefined, timeoutMs: number, accept: (ret: unknown) => boolean = () => true): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`guest agent: ${command} timed out`));
      }, timeoutMs);
      this.waiter = (line) => {
        let msg: { return?: unknown; error?: { desc?: string } };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          return;
        }
        if (msg.error) {
          clearTimeout(timer);
          this.waiter = null;
          reject(new Error(`guest agent: ${command}: ${msg.error.desc ?? "error"}`));
        } else if ("return" in msg && accept(msg.return)) {
          clearTimeout(timer);
          this.waiter = null;
          resolve(msg.return);
        }
      };
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
