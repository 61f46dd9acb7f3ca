import { EventEmitter } from "node:events";
import { createConnection, type Socket } from "node:net";

export interface QmpEvent {
  event: string;
  data?: unknown;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A QMP client over a unix socket: one JSON object per line, commands
 * matched to replies by id, asynchronous events emitted as "event", and
 * "close" when QEMU goes away.
 */
export class QmpClient extends EventEmitter {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("close", () => this.onClose());
    socket.on("error", () => socket.destroy());
  }

  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`QMP connect to ${path} timed out`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const client = new QmpClient(socket);
    await client.greeting(timeoutMs);
    await client.execute("qmp_capabilities");
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: connection closed`));
    const id = String(this.nextId++);
    const message = args ? { execute: command, arguments: args, id } : { execute: command, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  close(): void {
    this.socket.end();
  }

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("QMP greeting timed out")), timeoutMs);
      this.once("greeting", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // QEMU never sends partial JSON lines; ignore noise
    }
    if (!isObject(msg)) return;
    if ("QMP" in msg) {
      this.emit("greeting");
    } else if (typeof msg.event === "string") {
      this.emit("event", { event: msg.event, data: msg.data } satisfies QmpEvent);
    } else if (typeof msg.id === "string") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (isObject(msg.error)) p.reject(new Error(`QMP error: ${String(msg.error.desc)}`));
      else p.resolve(msg.return);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error("QMP connection closed"));
    this.pending.clear();
    this.emit("close");
  }
}
