import type { Logger } from "./context.ts";

/**
 * Runs work that nobody awaits: its failure is logged, never an unhandled
 * rejection. Every fire-and-forget promise in the services goes through here.
 */
export function runDetached(log: Logger, what: string, work: Promise<unknown>): void {
  work.catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, `${what} failed`));
}
