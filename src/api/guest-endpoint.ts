import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { rm } from "node:fs/promises";
import { openstackMetaData } from "../adapters/configdrive/config-2-files.ts";
import { isPasswordData, openstackDefaultZone } from "../core/guest-contract.ts";
import type { GuestEndpoints, GuestHandlers } from "../core/ports.ts";

/** A guest is hostile too: small bodies, short deadlines, few connections. */
const limits = { bodyBytes: 16 * 1024, timeoutMs: 10_000, connections: 4 };

/**
 * The OpenStack metadata versions served. cloudbase-init reads latest, and
 * 2013-04-04, the first version with the password path, to learn whether it
 * may post its password there.
 */
const versions = ["2012-08-10", "2013-04-04", "latest"];
const passwordVersions = new Set(["2013-04-04", "latest"]);

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

function answer(res: ServerResponse, status: number, body: string, type = "text/plain"): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" }).end(body);
}

/** What one instance's endpoint remembers while it is open. */
interface EndpointState {
  /** The encrypted password cloudbase-init handed in; a second one is refused, as Nova does. */
  passwordData: string | null;
  adminPasswordServed: boolean;
}

/**
 * The guest endpoint over HTTP: one small server per instance, on a unix
 * socket in the instance's run dir, which QEMU connects each guest
 * connection to (guestfwd). The socket is the instance's identity: a report
 * on it is about that instance whatever the guest claims.
 *
 * Besides cloud-init's phone-home it answers as OpenStack's metadata service
 * does for cloudbase-init (metadata/services/httpservice.py): meta_data.json,
 * user_data, and the password path, which takes one encrypted password
 * (POST; a second is 409) and gives it back (GET; empty until one came).
 */
export class HttpGuestEndpoints implements GuestEndpoints {
  private readonly servers = new Map<string, Server>();

  constructor(
    private readonly log: { warn(obj: object, msg?: string): void },
    private readonly options: { availabilityZone?: string } = {},
  ) {}

  async open(instanceId: string, socketPath: string, handlers: GuestHandlers): Promise<void> {
    await this.close(instanceId);
    await rm(socketPath, { force: true });
    const state: EndpointState = { passwordData: null, adminPasswordServed: false };
    const server = createServer({ headersTimeout: limits.timeoutMs, requestTimeout: limits.timeoutMs }, (req, res) => {
      this.serve(instanceId, handlers, state, req, res).catch((err: unknown) => {
        this.log.warn({ instanceId, err: err instanceof Error ? err.message : String(err) }, "the guest endpoint failed a request");
        if (res.headersSent) res.destroy();
        else answer(res, 500, "internal error\n");
      });
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

  private async serve(instanceId: string, handlers: GuestHandlers, state: EndpointState, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const method = req.method ?? "";
    const phoneHome = /^\/phone-home\/([\w-]{1,64})$/.exec(path);
    const openstack = /^\/openstack(?:\/([\w-]{1,16})(?:\/([\w.]{1,32}))?)?\/?$/.exec(path);

    if (method === "POST" && phoneHome) {
      const body = await readBody(req);
      if (body === undefined) return answer(res, 413, "too large\n");
      const form = new URLSearchParams(body);
      const claimed = field(form, "instance_id") ?? phoneHome[1] ?? null;
      if (claimed !== instanceId) this.log.warn({ instanceId, claimed }, "a guest phoned home claiming another instance id");
      handlers.onReport({ kind: "phone-home", claimedInstanceId: claimed, hostname: field(form, "hostname") });
      return answer(res, 200, "ok\n");
    }
    if (openstack && (method === "GET" || method === "POST")) {
      const [, version, file] = openstack;
      if (version !== undefined && !versions.includes(version)) return answer(res, 404, "not found\n");
      if (file === "password" && version !== undefined && passwordVersions.has(version)) return this.password(handlers, state, req, res);
      if (method !== "GET") return answer(res, 405, "method not allowed\n");
      if (version === undefined) return answer(res, 200, versions.join("\n"));
      const metadata = handlers.metadata();
      if (file === undefined) {
        const names = ["meta_data.json", ...(passwordVersions.has(version) ? ["password"] : []), ...(metadata.userData !== null ? ["user_data"] : [])];
        return answer(res, 200, names.join("\n"));
      }
      if (file === "meta_data.json") return answer(res, 200, openstackMetaData(metadata, this.options.availabilityZone ?? openstackDefaultZone), "application/json");
      if (file === "user_data" && metadata.userData !== null) return answer(res, 200, metadata.userData, "application/octet-stream");
      return answer(res, 404, "not found\n");
    }
    if (method === "GET" && path === "/imagesmith/admin-password") {
      // Served once per boot of the endpoint, and the service wipes it after: a second read finds nothing.
      const plain = state.adminPasswordServed ? null : handlers.adminPassword();
      if (plain === null) return answer(res, 404, "not found\n");
      state.adminPasswordServed = true;
      return answer(res, 200, plain);
    }
    if (method === "POST" && path === "/imagesmith/password-set") {
      if ((await readBody(req)) === undefined) return answer(res, 413, "too large\n");
      handlers.onReport({ kind: "password-set" });
      return answer(res, 200, "ok\n");
    }
    answer(res, 404, "not found\n");
  }

  /** cloudbase-init's password path: GET tells whether one was set (non-empty), POST hands one in, once. */
  private async password(handlers: GuestHandlers, state: EndpointState, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === "GET") return answer(res, 200, state.passwordData ?? "");
    if (state.passwordData !== null) return answer(res, 409, "password already set\n");
    const body = await readBody(req);
    if (body === undefined) return answer(res, 413, "too large\n");
    const passwordData = body.trim();
    if (!isPasswordData(passwordData)) return answer(res, 400, "the password must be base64, at most 4096 characters\n");
    // Checked again: two posts may have been read side by side.
    if (state.passwordData !== null) return answer(res, 409, "password already set\n");
    state.passwordData = passwordData;
    handlers.onReport({ kind: "password", passwordData });
    answer(res, 200, "ok\n");
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
