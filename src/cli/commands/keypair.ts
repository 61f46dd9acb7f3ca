import { readFile, writeFile } from "node:fs/promises";
import { Command } from "commander";
import { clientFor } from "../context.ts";
import { print } from "../output.ts";

const columns = ["name", "type", "fingerprint", "createdAt"];

export function keypairCommand(): Command {
  const cmd = new Command("keypair").description("SSH key pairs for instances");
  cmd
    .command("create")
    .description("create an RSA key pair; the private key is written only to --out")
    .requiredOption("--name <name>", "key pair name")
    .requiredOption("--out <file>", "where to write the private key (mode 0600)")
    .action(async (o: { name: string; out: string }, c: Command) => {
      const { client, output } = clientFor(c);
      const { keyPair, privateKey } = await client.createKeyPair(o.name);
      await writeFile(o.out, privateKey ?? "", { mode: 0o600, flag: "wx" });
      print(output, keyPair, columns);
    });
  cmd
    .command("import")
    .description("import an existing public key (OpenSSH format, rsa or ed25519)")
    .requiredOption("--name <name>", "key pair name")
    .requiredOption("--public-key-file <file>", "the public key file, such as ~/.ssh/id_ed25519.pub")
    .action(async (o: { name: string; publicKeyFile: string }, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.importKeyPair(o.name, await readFile(o.publicKeyFile, "utf8")), columns);
    });
  cmd
    .command("list")
    .description("list key pairs")
    .action(async (_o: unknown, c: Command) => {
      const { client, output } = clientFor(c);
      print(output, await client.listKeyPairs(), columns);
    });
  cmd
    .command("delete <name>")
    .description("delete a key pair")
    .action(async (name: string, _o: unknown, c: Command) => {
      const { client } = clientFor(c);
      await client.deleteKeyPair(name);
    });
  return cmd;
}
