import { Command } from "commander";
import { clientFor } from "../context.ts";
import { print } from "../output.ts";

export function accesskeyCommand(): Command {
  const cmd = new Command("accesskey").description("access keys for the EC2 endpoint (AWS Signature V4)");
  cmd
    .command("create")
    .description("create an access key; its secret is printed this once and cannot be shown again")
    .action(async (_o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.createAccessKey(), ["accessKeyId", "secretAccessKey", "createdAt"]);
      process.stderr.write("imagesmith: keep the secret access key now: it cannot be shown again\n");
    });
  cmd
    .command("list")
    .description("list access keys (never their secrets)")
    .action(async (_o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listAccessKeys(), ["accessKeyId", "createdAt", "lastUsedAt"]);
    });
  cmd
    .command("delete <id>")
    .description("delete an access key; its secret is gone for good")
    .action(async (id: string, _o: unknown, c: Command) => {
      const { client } = clientFor(c);
      await client.deleteAccessKey(id);
    });
  return cmd;
}
