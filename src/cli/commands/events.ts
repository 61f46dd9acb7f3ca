import { Command } from "commander";
import { clientFor } from "../context.ts";

export function eventsCommand(): Command {
  return new Command("events")
    .description("state changes of instances, images, snapshots, volumes and operations")
    .option("--after <seq>", "only events after this sequence number", "0")
    .option("--resource <id>", "only this resource's events")
    .option("--follow", "keep waiting for new events")
    .action(async (o: { after: string; resource?: string; follow?: boolean }, c: Command) => {
      const { client, output } = clientFor(c);
      let after = Number(o.after);
      do {
        const { events, next } = await client.events({ after, resourceId: o.resource, wait: o.follow ? 30 : 0 });
        for (const e of events) {
          const line = output === "json" ? JSON.stringify(e) : `${e.seq} ${e.time} ${e.resourceId} ${e.fromState ?? "-"} -> ${e.toState}${e.reason ? ` (${e.reason})` : ""}`;
          process.stdout.write(`${line}\n`);
        }
        after = next;
      } while (o.follow);
    });
}
