import { Command, Option } from "commander";
import { cpus, totalmem } from "node:os";
import { codecs, type Codec } from "../../adapters/chunkstore/codecs.ts";
import { CliError, defaultDataDir } from "../context.ts";

const GiB = 1024 ** 3;

/** A positive number option times its unit, or undefined for the default. */
function positive(flag: string, value: string | undefined, unit: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new CliError(`${flag} must be a positive number, not ${value}`);
  return Math.floor(n * unit);
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the daemon: it owns all state and supervises the VMs")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8787")
    .option("--ec2-listen <host:port>", "address of the EC2 Query API (SigV4, /ec2/), or off", "127.0.0.1:8788")
    .addOption(new Option("--accel <accel>", "hypervisor accelerator; auto probes KVM and falls back to TCG").choices(["auto", "kvm", "tcg"]).default("auto"))
    .option("--host-vcpus <n>", "vCPUs instances may reserve in all (default: 4 per host core)")
    .option("--host-memory-mib <n>", "memory instances may reserve in all (default: 80% of the host's)")
    .addOption(new Option("--compression <codec>", "chunk compression").choices(codecs).default("zstd"))
    .option("--max-volume-size-gib <n>", "largest virtual size of an uploaded disk or a volume (default: 2048)")
    .option("--cache-max-gib <n>", "host cache of image bases, evicted least-recently-used above this (default: 64)")
    .option("--export-ttl-minutes <n>", "how long a finished export stays downloadable (default: 60)")
    .action(async (_o: unknown, c: Command) => {
      // --data-dir is the global option: the daemon's data dir is where clients find the token.
      const o = c.optsWithGlobals<{ dataDir?: string; listen: string; ec2Listen: string; accel: "auto" | "kvm" | "tcg"; hostVcpus?: string; hostMemoryMib?: string; compression: Codec; maxVolumeSizeGib?: string; cacheMaxGib?: string; exportTtlMinutes?: string }>();
      const capacity = o.hostVcpus || o.hostMemoryMib ? { vcpus: Number(o.hostVcpus ?? cpus().length * 4), memoryMiB: Number(o.hostMemoryMib ?? Math.floor(totalmem() / 1048576 * 0.8)) } : undefined;
      if (capacity && !(capacity.vcpus > 0 && capacity.memoryMiB > 0)) throw new CliError("--host-vcpus and --host-memory-mib must be positive numbers");
      // Loaded here, not at the top: the daemon (Fastify, SQLite, …) is the heaviest part of the
      // CLI, and every other command starts faster without it.
      const { startDaemon } = await import("../../daemon.ts");
      const daemon = await startDaemon({
        dataDir: o.dataDir ?? defaultDataDir(),
        listen: o.listen,
        ec2Listen: o.ec2Listen,
        accelerator: o.accel,
        capacity,
        compression: o.compression,
        maxVolumeSize: positive("--max-volume-size-gib", o.maxVolumeSizeGib, GiB),
        cacheMaxBytes: positive("--cache-max-gib", o.cacheMaxGib, GiB),
        exportTtlMs: positive("--export-ttl-minutes", o.exportTtlMinutes, 60_000),
      });
      // A rejection nothing caught is a bug to log, not a reason to drop every VM's supervision.
      process.on("unhandledRejection", (reason) => {
        daemon.log.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, "unhandled rejection");
      });
      const stop = () => {
        void daemon.close().then(() => process.exit(0));
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
