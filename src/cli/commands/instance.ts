import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import type { Instance } from "../../client/client.ts";
import { CliError, clientFor } from "../context.ts";
import { print } from "../output.ts";
import { progressBar } from "../progress.ts";
import { collect } from "../operation-wait.ts";

const columns = ["id", "state", "ready", "imageId", "instanceType", "hostname", "sshPort", "stateReason"];
const actions = ["stop", "start", "reboot", "terminate"] as const;

export function instanceCommand(): Command {
  const cmd = new Command("instance").description("virtual machines");
  cmd
    .command("run")
    .description("launch instances from an image")
    .requiredOption("--image <id>", "image id (ami-…)")
    .option("--key <name>", "key pair whose public key is installed for the image's default user")
    .option("--count <n>", "how many", "1")
    .option("--type <type>", "instance type (is.nano, is.micro, is.small, …)")
    .option("--user-data <file>", "user data (a script starting with #! runs once at first boot)")
    .option("--hostname <name>", "hostname (one instance only; default derived from the instance id)")
    .option("--data-volume <GiB|snap-id>", "a new data volume for each instance, empty of this size or from a snapshot; repeatable", collect)
    .option("--wait", "wait until the instances are running")
    .action(async (o: { image: string; key?: string; count: string; type?: string; userData?: string; hostname?: string; dataVolume?: string[]; wait?: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      const count = Number(o.count);
      if (!Number.isInteger(count)) throw new CliError(`--count must be a whole number, not ${o.count}`);
      let instances = await client.runInstances({
        imageId: o.image,
        count,
        keyName: o.key,
        instanceType: o.type,
        userData: o.userData ? await readFile(o.userData, "utf8") : undefined,
        hostname: o.hostname,
        dataVolumes: o.dataVolume?.map((v) => (v.startsWith("snap-") ? { snapshotId: v } : { sizeGiB: Number(v) })),
      });
      if (o.wait) instances = await waitWithBar(c, instances.map((i) => i.id), "running", 600);
      print(output, instances, columns);
    });
  cmd
    .command("list")
    .description("list instances")
    .option("--state <state>", "only instances in this state")
    .option("--image <id>", "only instances launched from this image")
    .action(async (o: { state?: Instance["state"]; image?: string }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listInstances({ state: o.state, imageId: o.image }), columns);
    });
  cmd
    .command("show <id>")
    .description("show one instance")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.getInstance(id), columns);
    });
  for (const action of actions) {
    cmd
      .command(`${action} <id>`)
      .description(`${action} an instance`)
      .action(async (id: string, _o: unknown, c: Command) => {
        const { client, output } = clientFor(c);
        print(output, await client.instanceAction(id, action), columns);
      });
  }
  cmd
    .command("console <id>")
    .description("print the serial console output")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client } = clientFor(c);
      process.stdout.write(await client.consoleOutput(id));
    });
  cmd
    .command("wait <state> <ids...>")
    .description("wait until every instance is in a state (running, stopped, terminated, …)")
    .option("--timeout <seconds>", "give up after this long", "600")
    .action(async (state: Instance["state"], ids: string[], o: { timeout: string }, c: Command) => {
      const { output } = clientFor(c);
      print(output, await waitWithBar(c, ids, state, Number(o.timeout)), columns);
    });
  cmd
    .command("ssh <id> [command...]")
    .description("ssh to the instance's forwarded port as the image's default user")
    .requiredOption("--key <file>", "private key file (the key pair's .pem)")
    .action(async (id: string, command: string[], o: { key: string }, c: Command) => {
      const { client } = clientFor(c);
      const inst = await client.getInstance(id);
      if (!inst.sshPort) throw new CliError(`Instance ${id} has no SSH port yet: it is ${inst.state}${inst.ready ? "" : ", not ready"}`);
      const image = await client.getImage(inst.imageId);
      const args = [
        "-i", o.key, "-p", String(inst.sshPort),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
        `${image.defaultUser}@127.0.0.1`, ...command,
      ];
      const code = await new Promise<number>((resolve, reject) => {
        const p = spawn("ssh", args, { stdio: "inherit" });
        p.on("error", reject);
        p.on("exit", (status) => resolve(status ?? 255));
      });
      process.exitCode = code;
    });
  return cmd;
}

async function waitWithBar(c: Command, ids: string[], state: Instance["state"], timeoutSeconds: number): Promise<Instance[]> {
  const { client } = clientFor(c);
  const bar = progressBar(`waiting for ${state}`, ids.length);
  try {
    return await client.waitInstances(ids, state, {
      timeoutMs: timeoutSeconds * 1000,
      onProgress: (done) => bar.update(done),
    });
  } finally {
    bar.stop();
  }
}
