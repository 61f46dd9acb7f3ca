import { Command, Option } from "commander";
import type { Client, Image } from "../../client/client.ts";
import { CliError, clientFor } from "../context.ts";
import { print } from "../output.ts";
import { progressBar } from "../progress.ts";
import { waitWithProgress } from "../operation-wait.ts";

const columns = ["id", "name", "state", "osType", "osState", "virtualSize", "createdAt"];

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
    .option("--name <name>", "only images with this name")
    .option("--os-state <state>", "generalized or specialized")
    .action(async (o: { state?: Image["state"]; name?: string; osState?: Image["osState"] }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listImages({ state: o.state, name: o.name, osState: o.osState }), columns);
    });
  cmd
    .command("show <id>")
    .description("show one image")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.getImage(id), columns);
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
