import type { Catalog, StateEvent } from "../core/ports.ts";

/** The feed of state changes, with long-polling: clients wait for what comes after what they saw. */
export class Events {
  constructor(private readonly catalog: Catalog) {}

  async list(options: { afterSeq: number; resourceId?: string; waitMs: number; limit?: number }): Promise<StateEvent[]> {
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      const events = this.catalog.events({ afterSeq: options.afterSeq, resourceId: options.resourceId, limit: options.limit ?? 500 });
      if (events.length > 0 || Date.now() >= deadline) return events;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
