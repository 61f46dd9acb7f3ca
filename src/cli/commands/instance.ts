import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import type { Instance, InstanceWaitState } from "../../client/client.ts";
import { CliError, clientFor } from "../context.ts";
import { print } from "../output.ts";
import { progressBar } from "../progress.ts";
import { collect, parseTags } from "../operation-wait.ts";

const columns = ["id", "state", "statusCheck", "imageId", "instanceType", "hostname", "sshPort", "statusReason"];
const actions = ["stop", "start", "reboot", "terminate", "deallocate", "generalize"] as const;
const actionHelp: Record<(typeof actions)[number], string> = {
  stop: "stop an instance (it keeps its vCPU and memory reservation)",
  start: "start a stopped or deallocated instance",
  reboot: "reboot an instance",
  terminate: "terminate an instance; volumes marked deleteOnTermination go with it",
  deallocate: "release a stopped instance's vCPU and memory reservation",
  generalize: "mark a stopped instance generalized after Sysprep/deprovision inside it; it can no longer start",
};

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
    .option("--admin-password <mode>", "random (generated, encrypted with the key pair), keep or none; default per image")
    .option("--admin-password-file <file>", "specify the admin password: read from this file, never stored")
    .option("--allow-duplicate-identity", "launch a specialized image more than once at a time")
    .option("--tag <k=v>", "instance tag; repeatable", collect)
    .option("--data-volume <GiB|snap-id>", "a new data volume for each instance, empty of this size or from a snapshot; repeatable", collect)
    .option("--time-zone <id>", "a generalized Windows image: the answer file's time zone (default UTC)")
    .option("--locale <tag>", "a generalized Windows image: input, system, UI and user locale (default en-US)")
    .option("--copy-profile", "a generalized Windows image: CopyProfile (the administrator's profile becomes the default)")
    .option("--registered-owner <name>", "a generalized Windows image: RegisteredOwner")
    .option("--registered-organization <name>", "a generalized Windows image: RegisteredOrganization")
    .option("--wait", "wait until the instances are ready (running, status check ok)")
    .action(async (o: { image: string; key?: string; count: string; type?: string; userData?: string; hostname?: string; dataVolume?: string[]; wait?: boolean; adminPassword?: string; adminPasswordFile?: string; allowDuplicateIdentity?: boolean; tag?: string[]; timeZone?: string; locale?: string; copyProfile?: boolean; registeredOwner?: string; registeredOrganization?: string }, c: Command) => {
      const { client, output } = clientFor(c);
      if (o.adminPassword && !["random", "keep", "none"].includes(o.adminPassword)) throw new CliError(`--admin-password is random, keep or none, not ${o.adminPassword}`);
      if (o.adminPassword && o.adminPasswordFile) throw new CliError("Give --admin-password or --admin-password-file, not both");
      const adminPassword = o.adminPasswordFile
        ? { mode: "specify" as const, password: (await readFile(o.adminPasswordFile, "utf8")).replace(/\r?\n$/, "") }
        : o.adminPassword
          ? { mode: o.adminPassword as "random" | "keep" | "none" }
          : undefined;
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
        adminPassword,
        allowDuplicateIdentity: o.allowDuplicateIdentity,
        tags: parseTags(o.tag),
        windowsSettings: windowsSettings(o),
      });
      if (o.wait) instances = await waitWithBar(c, instances.map((i) => i.id), "ready", 900);
      print(output, instances, columns);
    });
  cmd
    .command("list")
    .description("list instances")
    .option("--state <state>", "only instances in this state")
    .option("--image <id>", "only instances launched from this image")
    .option("--tag <k=v>", "only instances with this tag (value may hold wildcards); repeatable", collect)
    .action(async (o: { state?: Instance["state"]; image?: string; tag?: string[] }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listInstances({ state: o.state, imageId: o.image, tag: o.tag }), columns);
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
      .description(actionHelp[action])
      .action(async (id: string, _o: unknown, c: Command) => {
        const { client, output } = clientFor(c);
        print(output, await client.instanceAction(id, action), columns);
      });
  }
  cmd
    .command("get-password <id>")
    .description("decrypt the generated admin password locally with the key pair's private key (--output json: the ciphertext)")
    .option("--key <file>", "the key pair's private key (.pem); needed unless --output json")
    .action(async (id: string, o: { key?: string }, c: Command) => {
      const { client, output } = clientFor(c);
      const data = await client.passwordData(id);
      if (output === "json") return print(output, data, []);
      if (!o.key) throw new CliError("Give --key K.pem to decrypt the password, or --output json for the ciphertext");
      process.stdout.write(`${await decryptPassword(data.passwordData, o.key)}\n`);
    });
  cmd
    .command("get-credentials <id>")
    .description("the default user and password made at launch from a general Windows image (OCI's GetInstanceDefaultCredentials)")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.credentials(id), ["instanceId", "username", "password"]);
    });
  cmd
    .command("console <id>")
    .description("print the serial console output")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client } = clientFor(c);
      process.stdout.write(await client.consoleOutput(id));
    });
  cmd
    .command("wait <state> <ids...>")
    .description("wait until every instance is in a state (running, stopped, terminated, …), or ready / status-ok: running with the guest up")
    .option("--timeout <seconds>", "give up after this long", "900")
    .action(async (state: InstanceWaitState, ids: string[], o: { timeout: string }, c: Command) => {
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
      if (!inst.sshPort) {
        const why = inst.statusCheck === "ok" ? "the guest has not confirmed its admin password" : `its status check is ${inst.statusCheck}${inst.statusReason ? ` (${inst.statusReason})` : ""}`;
        throw new CliError(`Instance ${id} has no SSH port yet: it is ${inst.state} and ${why}`);
      }
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

async function waitWithBar(c: Command, ids: string[], state: InstanceWaitState, timeoutSeconds: number): Promise<Instance[]> {
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

/** PKCS#1 v1.5 RSA decryption, as `aws ec2 get-password-data --priv-launch-key`, with openssl (Node 20 refuses this padding). */
async function decryptPassword(passwordData: string, keyFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("openssl", ["pkeyutl", "-decrypt", "-inkey", keyFile, "-pkeyopt", "rsa_padding_mode:pkcs1"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    p.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(out) : reject(new CliError(`Cannot decrypt the password with ${keyFile}: ${err.trim().split("\n")[0] ?? ""}`))));
    p.stdin.end(Buffer.from(passwordData, "base64"));
  });
}

/** The answer file's settings a launch gives, or undefined when it gives none. */
function windowsSettings(o: { timeZone?: string; locale?: string; copyProfile?: boolean; registeredOwner?: string; registeredOrganization?: string }) {
  const { timeZone, locale, copyProfile, registeredOwner, registeredOrganization } = o;
  const given = Object.entries({ timeZone, locale, copyProfile, registeredOwner, registeredOrganization }).filter(([, v]) => v !== undefined);
  return given.length > 0 ? Object.fromEntries(given) : undefined;
}
