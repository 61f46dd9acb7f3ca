import { Command, Option } from "commander";
import type { Client, Image } from "../../client/client.ts";
import { CliError, clientFor } from "../context.ts";
import { print } from "../output.ts";
import { progressBar } from "../progress.ts";
import { collect, parseTags, waitWithProgress } from "../operation-wait.ts";

const columns = ["id", "name", "state", "osType", "osState", "sourceInstanceId", "consistency", "stateReason"];

async function waitImage(client: Client, id: string, state: Image["state"], timeoutMs: number): Promise<Image> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const image = await client.getImage(id);
    if (image.state === state) return image;
    if (image.state === "failed" && state !== "failed") throw new CliError(`Image ${id} failed: ${image.stateReason ?? "no reason given"}`);
    if (Date.now() > deadline) throw new CliError(`Timed out waiting for image ${id} to be ${state} (it is ${image.state})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function imageCommand(): Command {
  const cmd = new Command("image").description("images to launch instances from");
  cmd
    .command("import")
    .description("import a disk file (raw, qcow2, VHD, VHDX, VMDK, VDI) as an image")
    .requiredOption("--file <disk>", "the disk file")
    .requiredOption("--name <name>", "image name, unique")
    .addOption(new Option("--os <type>", "operating system").choices(["linux", "windows"]).makeOptionMandatory())
    .addOption(new Option("--os-state <state>", "whether the disk is generalized or specialized").choices(["generalized", "specialized"]).default("generalized"))
    .option("--description <text>", "description")
    .option("--default-user <user>", "the user that key pairs and passwords apply to")
    .option("--no-wait", "return once the upload is accepted")
    .action(async (o: { file: string; name: string; os: "linux" | "windows"; osState: "generalized" | "specialized"; description?: string; defaultUser?: string; wait: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      const { image, operation } = await client.importImage(o.file, {
        name: o.name,
        osType: o.os,
        osState: o.osState,
        description: o.description,
        defaultUser: o.defaultUser,
      });
      if (!o.wait) return print(output, image, columns);
      const bar = progressBar(`importing ${image.id}`, 100);
      const op = await client.waitOperation(operation.id, (p) => bar.update(Math.round(p.progress), p.message));
      bar.stop();
      if (op.state === "failed") throw new CliError(`Import of ${image.id} failed: ${op.error?.message ?? op.message}`);
      print(output, await client.getImage(image.id), columns);
    });
  cmd
    .command("create")
    .description("create an image from an instance; prints it pending at once (then: image wait available ID)")
    .requiredOption("--instance <id>", "source instance")
    .requiredOption("--name <name>", "image name, unique")
    .option("--description <text>", "description")
    .option("--generalize", "generalize a copy offline (virt-sysprep; Windows: preflight, RDP lock); the instance keeps running")
    .option("--remove-user", "with --generalize: also remove the image's default user (deprovision+user)")
    .option("--no-reboot", "do not stop the instance: copy it running (filesystems frozen by its guest agent when one answers, crash-consistent otherwise)")
    .option("--exclude-volume <id>", "leave a data volume out; repeatable", collect)
    .option("--tag <k=v>", "image tag; repeatable", collect)
    .option("--snapshot-tag <k=v>", "tag for the image's snapshots; repeatable", collect)
    .option("--force", "Windows: capture generalized despite blocking Sysprep preflight findings")
    .addOption(new Option("--image-type <type>", "a generalized Windows image: general recreates the default user at each launch, custom keeps it (OCI)").choices(["general", "custom"]))
    .option("--wait", "wait until it is available")
    .action(async (o: { instance: string; name: string; description?: string; generalize?: boolean; removeUser?: boolean; reboot: boolean; excludeVolume?: string[]; tag?: string[]; snapshotTag?: string[]; force?: boolean; imageType?: "general" | "custom"; wait?: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      if (o.removeUser && !o.generalize) throw new CliError("--remove-user goes with --generalize");
      const { image, operation } = await client.createImage({
        instanceId: o.instance,
        name: o.name,
        description: o.description,
        generalize: o.generalize,
        removeUser: o.removeUser,
        noReboot: !o.reboot,
        excludeVolumeIds: o.excludeVolume,
        tags: parseTags(o.tag),
        snapshotTags: parseTags(o.snapshotTag),
        force: o.force,
        imageType: o.imageType,
      });
      if (o.wait) await waitWithProgress(client, operation, `creating ${image.id}`);
      print(output, o.wait ? await client.getImage(image.id) : image, columns);
    });
  cmd
    .command("register")
    .description("register an image whose root disk is an existing snapshot; say whether it is generalized")
    .requiredOption("--snapshot <id>", "snapshot id")
    .requiredOption("--name <name>", "image name, unique")
    .addOption(new Option("--os <type>", "operating system").choices(["linux", "windows"]).makeOptionMandatory())
    .addOption(new Option("--os-state <state>", "generalized or specialized").choices(["generalized", "specialized"]).makeOptionMandatory())
    .action(async (o: { snapshot: string; name: string; os: "linux" | "windows"; osState: "generalized" | "specialized" }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.registerImage({ snapshotId: o.snapshot, name: o.name, osType: o.os, osState: o.osState }), columns);
    });
  cmd
    .command("deregister <id>")
    .description("deregister an image; with --delete-snapshots, its snapshots too unless something else uses them")
    .option("--delete-snapshots", "delete the image's snapshots")
    .action(async (id: string, o: { deleteSnapshots?: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      const r = await client.deregisterImage(id, o.deleteSnapshots === true);
      if (output === "json") return print(output, r, []);
      print(output, r.image, columns);
      for (const s of r.deletedSnapshots) process.stdout.write(`deleted ${s}\n`);
      for (const k of r.keptSnapshots) process.stdout.write(`kept ${k.id}: ${k.reason}\n`);
    });
  cmd
    .command("export <id>")
    .description("export an image's root disk: raw, qcow2, vhd (fixed, Azure-ready), vmdk (streamOptimized), vdi")
    .addOption(new Option("--format <format>", "disk format").choices(["raw", "qcow2", "vhd", "vmdk", "vdi"]).makeOptionMandatory())
    .requiredOption("--out <file>", "where to write the disk")
    .action(async (id: string, o: { format: "raw" | "qcow2" | "vhd" | "vmdk" | "vdi"; out: string }, c: Command) => {
      const { client, output } = clientFor(c);
      const op = await waitWithProgress(client, await client.exportImage(id, o.format), `exporting ${id}`);
      await client.download(op.id, o.out);
      print(output, { imageId: id, format: o.format, file: o.out, size: op.result?.size }, ["imageId", "format", "file", "size"]);
    });
  cmd
    .command("list")
    .description("list images")
    .option("--state <state>", "only images in this state (deregistered ones only with this)")
    .option("--name <pattern>", "only images whose name matches (wildcards * and ?)")
    .option("--os-state <state>", "generalized or specialized")
    .option("--tag <k=v>", "only images with this tag (value may hold wildcards); repeatable", collect)
    .option("--source-instance <id>", "only images captured from this instance")
    .action(async (o: { state?: Image["state"]; name?: string; osState?: Image["osState"]; tag?: string[]; sourceInstance?: string }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listImages({ state: o.state, name: o.name, osState: o.osState, tag: o.tag, sourceInstanceId: o.sourceInstance }), columns);
    });
  cmd
    .command("show <id>")
    .description("show one image (a Windows image: what inspection found)")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      const image = await client.getImage(id);
      print(output, image, columns);
      if (output === "table" && image.osType === "windows") printWindows(image);
    });
  cmd
    .command("preflight <id>")
    .description("Sysprep preflight of a Windows image (ami-…) or of a stopped instance's disk (i-…), offline")
    .option("--fix", "on a stopped instance: delete the leftover Panther answer files")
    .action(async (id: string, o: { fix?: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      const op = await waitWithProgress(client, await client.preflight(id, o.fix === true), `preflight of ${id}`);
      const result = op.result as { findings: { severity: string; code: string; where: string; message: string; fix: string }[]; fixed: string[] } | null;
      if (output === "json") return print(output, result, []);
      const findings = result?.findings ?? [];
      for (const f of result?.fixed ?? []) process.stdout.write(`fixed: deleted ${f}\n`);
      if (findings.length === 0) process.stdout.write(`${id}: no Sysprep preflight findings\n`);
      for (const f of findings) process.stdout.write(`${f.severity.toUpperCase()} ${f.code}\n  where: ${f.where}\n  ${f.message}\n  fix: ${f.fix}\n`);
      if (findings.some((f) => f.severity === "blocking")) process.exitCode = 3;
    });
  cmd
    .command("wait <state> <id>")
    .description("wait until an image is in a state (available, failed, deregistered)")
    .option("--timeout <seconds>", "give up after this long", "1800")
    .action(async (state: Image["state"], id: string, o: { timeout: string }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await waitImage(client, id, state, Number(o.timeout) * 1000), columns);
    });
  return cmd;
}

/** The Windows lines of `image show`: what libguestfs inspection found, and the lineage's Sysprep count. */
function printWindows(image: Image): void {
  const w = image.windows;
  const lines = w
    ? [`product: ${w.productName} (${w.majorVersion}.${w.minorVersion}, ${w.installationType}, ${w.arch})`, `hostname: ${w.hostname ?? "-"}`, `system root: ${w.systemRoot}`]
    : ["inspection: no Windows installation found on the root disk (see image preflight)"];
  lines.push(`platform: windows`, `generalizations: ${image.generalizations ?? 0}`, `image type: ${image.imageType ?? "-"}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}
