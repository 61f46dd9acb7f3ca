import type { Client, Operation } from "../client/client.ts";
import { CliError } from "./context.ts";
import { progressBar } from "./progress.ts";

/** Waits for an operation with a progress bar; a failed operation is an error. */
export async function waitWithProgress(client: Client, op: Operation, label: string): Promise<Operation> {
  const bar = progressBar(label, 100);
  try {
    const done = await client.waitOperation(op.id, (p) => bar.update(Math.round(p.progress), p.message));
    if (done.state === "failed") throw new CliError(`${label} failed: ${done.error?.code ?? ""} ${done.error?.message ?? done.message}`.trim());
    return done;
  } finally {
    bar.stop();
  }
}

/** Parses repeated k=v options into tags. */
export function parseTags(pairs: string[] = []): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq < 1) throw new CliError(`A tag must be key=value, not ${p}`);
    tags[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return tags;
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];
