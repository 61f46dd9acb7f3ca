import { Command } from "commander";
import { CliError, clientFor } from "../context.ts";
import { collect, parseTags, waitWithProgress } from "../operation-wait.ts";
import { print } from "../output.ts";

const snapshotColumns = ["id", "state", "volumeId", "parentId", "consistency", "volumeSize", "bytesStored", "createdAt"];
const volumeColumns = ["id", "state", "kind", "instanceId", "baseSnapshotId", "size", "deleteOnTermination"];

export function snapshotCommand(): Command {
  const cmd = new Command("snapshot").description("incremental snapshots of volumes");
  cmd
    .command("create")
    .description("snapshot a volume (of a running instance too: crash-consistent)")
    .requiredOption("--volume <id>", "volume id (vol-…)")
    .option("--description <text>", "description")
    .option("--tag <k=v>", "tag, repeatable", collect)
    .option("--no-wait", "return at once, while the snapshot is pending")
    .action(async (o: { volume: string; description?: string; tag?: string[]; wait: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      const { snapshot, operation } = await client.createSnapshot({ volumeId: o.volume, description: o.description, tags: parseTags(o.tag) });
      if (o.wait) await waitWithProgress(client, operation, `snapshot ${snapshot.id}`);
      print(output, await client.getSnapshot(snapshot.id), snapshotColumns);
    });
  cmd.command("list").description("list snapshots").action(async (_o: unknown, c: Command) => {
    const { client, output } = clientFor(c);
    print(output, await client.listSnapshots(), snapshotColumns);
  });
  cmd.command("show <id>").description("show a snapshot").action(async (id: string, _o: unknown, c: Command) => {
    const { client, output } = clientFor(c);
    print(output, await client.getSnapshot(id), snapshotColumns);
  });
  cmd.command("delete <id>").description("delete a snapshot nothing uses").action(async (id: string, _o: unknown, c: Command) => {
    await clientFor(c).client.deleteSnapshot(id);
  });
  return cmd;
}

export function volumeCommand(): Command {
  const cmd = new Command("volume").description("data volumes");
  cmd
    .command("create")
    .description("create a data volume, empty or from a snapshot")
    .option("--size <GiB>", "size in GiB")
    .option("--snapshot <id>", "start from this snapshot")
    .action(async (o: { size?: string; snapshot?: string }, c: Command) => {
      const { client, output } = clientFor(c);
      if (!o.size && !o.snapshot) throw new CliError("Give --size or --snapshot");
      print(output, await client.createVolume({ sizeGiB: o.size ? Number(o.size) : undefined, snapshotId: o.snapshot }), volumeColumns);
    });
  cmd.command("list").description("list volumes").option("--instance <id>", "only this instance's").action(async (o: { instance?: string }, c: Command) => {
    const { client, output } = clientFor(c);
    print(output, await client.listVolumes({ instanceId: o.instance }), volumeColumns);
  });
  cmd.command("show <id>").description("show a volume").action(async (id: string, _o: unknown, c: Command) => {
    const { client, output } = clientFor(c);
    print(output, await client.getVolume(id), volumeColumns);
  });
  cmd.command("delete <id>").description("delete a volume that is not attached").action(async (id: string, _o: unknown, c: Command) => {
    await clientFor(c).client.deleteVolume(id);
  });
  cmd
    .command("attach <id>")
    .description("attach to a stopped instance")
    .requiredOption("--instance <id>", "instance id")
    .action(async (id: string, o: { instance: string }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.attachVolume(id, o.instance), volumeColumns);
    });
  cmd.command("detach <id>").description("detach from a stopped instance").action(async (id: string, _o: unknown, c: Command) => {
    const { client, output } = clientFor(c);
    print(output, await client.detachVolume(id), volumeColumns);
  });
  return cmd;
}

export function storageCommand(): Command {
  const cmd = new Command("storage").description("the chunk store");
  for (const [kind, what] of [["gc", "reclaim chunks no snapshot references"], ["scrub", "verify every chunk; report corruption by snapshot and offset"]] as const) {
    cmd.command(kind).description(what).action(async (_o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      const done = await waitWithProgress(client, await client.storageOperation(kind), `storage ${kind}`);
      if (output === "json") print(output, done.result, []);
      else process.stdout.write(`${JSON.stringify(done.result, null, 2)}\n`);
      const corrupt = (done.result as { corrupt?: unknown[] } | null)?.corrupt;
      if (corrupt && corrupt.length > 0) process.exitCode = 2;
    });
  }
  return cmd;
}
