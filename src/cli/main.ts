import { Command, Option } from "commander";
import { ApiError } from "../client/client.ts";
import { AppError } from "../core/errors.ts";
import { accesskeyCommand } from "./commands/accesskey.ts";
import { eventsCommand } from "./commands/events.ts";
import { guestCommand } from "./commands/guest.ts";
import { imageCommand } from "./commands/image.ts";
import { instanceCommand } from "./commands/instance.ts";
import { keypairCommand } from "./commands/keypair.ts";
import { serveCommand } from "./commands/serve.ts";
import { snapshotCommand, storageCommand, volumeCommand } from "./commands/storage.ts";
import { CliError } from "./context.ts";

const program = new Command("imagesmith")
  .description("custom images from instances on your own QEMU hosts")
  .option("--endpoint <url>", "daemon URL (or IMAGESMITH_ENDPOINT)")
  .option("--token <token>", "API token (or IMAGESMITH_TOKEN, or the data dir's admin-token)")
  .option("--data-dir <dir>", "the daemon's data dir, to read its admin token (or IMAGESMITH_DATA_DIR)")
  .addOption(new Option("--output <format>", "output format").choices(["json", "table"]).default("table"))
  .showHelpAfterError()
  .enablePositionalOptions(false);

program.addCommand(serveCommand());
program.addCommand(keypairCommand());
program.addCommand(accesskeyCommand());
program.addCommand(imageCommand());
program.addCommand(instanceCommand());
program.addCommand(snapshotCommand());
program.addCommand(volumeCommand());
program.addCommand(storageCommand());
program.addCommand(eventsCommand());
program.addCommand(guestCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // AppError: the daemon refused to start (serve), with its reason.
  if (err instanceof ApiError || err instanceof CliError || err instanceof AppError) {
    const code = err instanceof ApiError || err instanceof AppError ? `${err.code}: ` : "";
    process.stderr.write(`imagesmith: ${code}${err.message}\n`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
