import { createServer, type IncomingMessage, type Server } from "node:http";
import { rm } from "node:fs/promises";
import type { GuestEndpoints, GuestReport } from "../core/ports.ts";

/** A guest is hostile too: small bodies, short deadlines, few connections. */
const limits = { bodyBytes: 16 * 1024, timeoutMs: 10_000, connections: 4 };

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limits.bodyBytes) {
        resolve(undefined);
        req.destroy();
      } else parts.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", () => resolve(undefined));
  });
}

/** A bounded, printable field of a form the guest posted. */
function field(form: URLSearchParams, name: string): string | null {
  const v = form.get(name);
  return v && /^[\x20-\x7e]{1,255}$/.test(v) ? v : null;
}

/**
 * The guest endpoint over HTTP: one small server per instance, on a unix
 * socket in the instance's run dir, which QEMU connects each guest
 * connection to (guestfwd). The socket is the instance's identity: a report
 * on it is about that instance whatever the guest claims.
 */
export class HttpGuestEndpoints implements GuestEndpoints {
  private readonly servers = new Map<string, Server>();

  constructor(private readonly log: { warn(obj: object, msg?: string): void }) {}

  async open(instanceId: string, socketPath: string, onReport: (report: GuestReport) => void): Promise<void> {
    await this.close(instanceId);
    await rm(socketPath, { force: true });
    const server = createServer({ headersTimeout: limits.timeoutMs, requestTimeout: limits.timeoutMs }, (req, res) => {
      void (async () => {
        const path = (req.url ?? "").split("?")[0] ?? "";
        const m = /^\/phone-home\/([\w-]{1,64})$/.exec(path);
        if (req.method !== "POST" || !m) {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
          return;
        }
        const body = await readBody(req);
        if (body === undefined) {
          res.writeHead(413, { "content-type": "text/plain" }).end("too large\n");
          return;
        }
        const form = new URLSearchParams(body);
        const claimed = field(form, "instance_id") ?? m[1] ?? null;
        if (claimed !== instanceId) this.log.warn({ instanceId, claimed }, "a guest phoned home claiming another instance id");
        onReport({ kind: "phone-home", claimedInstanceId: claimed, hostname: field(form, "hostname") });
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      })().catch(() => res.destroy());
    });
    server.maxConnections = limits.connections;
    server.on("clientError", (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    server.unref();
    this.servers.set(instanceId, server);
  }

  async close(instanceId: string): Promise<void> {
    const server = this.servers.get(instanceId);
    if (!server) return;
    this.servers.delete(instanceId);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.servers.keys()]) await this.close(id);
  }
}
