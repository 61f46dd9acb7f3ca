import { mkdir } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { IsoConfigDrive } from "./adapters/configdrive/iso-config-drive.ts";
import { SqliteCatalog } from "./adapters/catalog/sqlite-catalog.ts";
import { chooseAccelerator } from "./adapters/hypervisor/kvm-probe.ts";
import { QemuHypervisor } from "./adapters/hypervisor/qemu-hypervisor.ts";
import { LinuxGuestTools } from "./adapters/guest/linux-guest-tools.ts";
import { WindowsDiskTools } from "./adapters/guest/windows-disk-tools.ts";
import { FsChunkStore, FsManifestStore } from "./adapters/chunkstore/fs-chunk-store.ts";
import type { Codec } from "./adapters/chunkstore/chunk-codec.ts";
import { pooledCoder } from "./adapters/chunkstore/codec-pool.ts";
import { FileSecretBox } from "./adapters/crypto/secret-box.ts";
import { makePrivate } from "./adapters/fs/private-dir.ts";
import { ensureAdminToken } from "./api/auth.ts";
import { HttpGuestEndpoints } from "./api/guest-endpoint.ts";
import { buildServer, type App } from "./api/server.ts";
import { buildEc2Server } from "./api/ec2/server.ts";
import { badRequest } from "./core/errors.ts";
import { paths } from "./services/context.ts";
import { Services } from "./services/services.ts";

export interface DaemonOptions {
  dataDir: string;
  listen: string;
  /** Where the EC2 Query API listens (HOST:PORT), or "off"; default 127.0.0.1:8788. */
  ec2Listen?: string;
  accelerator: "auto" | "kvm" | "tcg";
  bootTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  logLevel?: string;
  /** vCPUs and memory instances may reserve; default 4 vCPUs per host core and 80% of memory. */
  capacity?: { vcpus: number; memoryMiB: number };
  /** Chunk compression: zstd (the default), deflate or none. */
  compression?: Codec;
  /** The largest virtual size of an uploaded disk or a volume, in bytes; default 2 TiB. */
  maxVolumeSize?: number;
  /** The host cache's cap in bytes, evicted least-recently-used; default 64 GiB. */
  cacheMaxBytes?: number;
  /** How long a finished export stays downloadable; default one hour. */
  exportTtlMs?: number;
}

const GiB = 1024 ** 3;
export const daemonDefaults = { maxVolumeSize: 2048 * GiB, cacheMaxBytes: 64 * GiB, exportTtlMs: 60 * 60 * 1000 };

export interface Daemon {
  app: App;
  log: pino.Logger;
  services: Services;
  url: string;
  /** The EC2 endpoint's URL (ending /ec2/), or null when it is off. */
  ec2Url: string | null;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^([\w.-]+|\[[\d:a-f]+\]):(\d{1,5})$/i.exec(listen);
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port >= 0 && port < 65536)) {
    throw badRequest("INVALID_LISTEN_ADDRESS", `Invalid --listen ${listen}: expected HOST:PORT, such as 127.0.0.1:8787`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

const urlOf = (host: string, port: number) => `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
const boundPortOf = (addr: ReturnType<import("node:net").Server["address"]>, asked: number) => (typeof addr === "object" && addr ? addr.port : asked);

/** Starts the daemon: catalog, hypervisor, recovery of earlier work, then HTTP. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const dataDir = resolve(options.dataDir);
  const { host, port } = parseListen(options.listen);
  const ec2Listen = options.ec2Listen ?? "127.0.0.1:8788";
  const ec2At = ec2Listen === "off" ? null : parseListen(ec2Listen);
  // Everything the daemon and its QEMU processes create is private to root.
  process.umask(0o077);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = pino({ level: options.logLevel ?? process.env.IMAGESMITH_LOG_LEVEL ?? "info" });
  const tightened = await makePrivate(dataDir);
  if (tightened > 0) log.warn({ dataDir, entries: tightened }, "the data dir was readable by others: made it and its contents private");
  await mkdir(paths.uploads(dataDir), { recursive: true });
  // Before the catalog: a key file that cannot be used stops the start with nothing open.
  const secrets = await FileSecretBox.open(dataDir);
  const catalog = new SqliteCatalog(join(dataDir, "catalog.db"));
  await ensureAdminToken(catalog, dataDir);
  const accelerator = await chooseAccelerator(options.accelerator);
  log.info({ accelerator }, "hypervisor accelerator chosen");
  const services = new Services({
    catalog,
    hypervisor: new QemuHypervisor(accelerator),
    configDrive: new IsoConfigDrive(),
    guestEndpoints: new HttpGuestEndpoints(log),
    guestTools: new LinuxGuestTools(accelerator),
    windowsTools: new WindowsDiskTools(accelerator),
    // Encoded and verified in worker threads, whatever the codec: the hash check on every read is work too.
    chunks: new FsChunkStore(paths.store(dataDir), pooledCoder(options.compression ?? "zstd")),
    manifests: new FsManifestStore(paths.store(dataDir)),
    secrets,
    settings: {
      dataDir,
      bootTimeoutMs: options.bootTimeoutMs ?? 300_000,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 60_000,
      capacity: options.capacity ?? { vcpus: cpus().length * 4, memoryMiB: Math.floor((totalmem() / 1024 / 1024) * 0.8) },
      maxVolumeSize: options.maxVolumeSize ?? daemonDefaults.maxVolumeSize,
      cacheMaxBytes: options.cacheMaxBytes ?? daemonDefaults.cacheMaxBytes,
      exportTtlMs: options.exportTtlMs ?? daemonDefaults.exportTtlMs,
    },
    log,
  });
  await services.recover();
  services.start();
  const purge = setInterval(() => services.instances.purgeTerminated(), 60_000);
  purge.unref();
  const app = await buildServer({ services, dataDir, logger: log });
  await app.listen({ host, port });
  const boundPort = boundPortOf(app.server.address(), port);
  const url = urlOf(host, boundPort);
  log.info({ url, dataDir }, "imagesmith daemon listening");
  let ec2: Awaited<ReturnType<typeof buildEc2Server>> | null = null;
  let ec2Url: string | null = null;
  if (ec2At) {
    ec2 = await buildEc2Server({ services, logger: log });
    try {
      await ec2.listen({ host: ec2At.host, port: ec2At.port });
    } catch (err) {
      // Nothing is left half-started: the VMs keep running for the next start, as on a clean stop.
      clearInterval(purge);
      services.stop();
      services.instances.detach();
      await app.close();
      catalog.close();
      throw badRequest("EC2_LISTEN_FAILED", `Cannot listen on --ec2-listen ${ec2Listen}: ${(err as Error).message}; pass another HOST:PORT, or off`);
    }
    ec2Url = `${urlOf(ec2At.host, boundPortOf(ec2.server.address(), ec2At.port))}/ec2/`;
    log.info({ url: ec2Url }, "EC2 Query API listening");
  }
  return {
    app,
    log,
    services,
    url,
    ec2Url,
    async close() {
      clearInterval(purge);
      services.stop();
      services.instances.detach();
      await app.close();
      await ec2?.close();
      catalog.close();
    },
  };
}
