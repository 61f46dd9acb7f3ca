import { Command, Option } from "commander";
import { startDaemon } from "../../daemon.ts";
import { defaultDataDir } from "../context.ts";

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the daemon: it owns all state and supervises the VMs")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8787")
    .addOption(new Option("--accel <accel>", "hypervisor accelerator; auto probes KVM and falls back to TCG").choices(["auto", "kvm", "tcg"]).default("auto"))
    .action(async (_o: unknown, c: Command) => {
      // --data-dir is the global option: the daemon's data dir is where clients find the token.
      const o = c.optsWithGlobals<{ dataDir?: string; listen: string; accel: "auto" | "kvm" | "tcg" }>();
      const daemon = await startDaemon({ dataDir: o.dataDir ?? defaultDataDir(), listen: o.listen, accelerator: o.accel });
      const stop = () => {
        void daemon.close().then(() => process.exit(0));
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
