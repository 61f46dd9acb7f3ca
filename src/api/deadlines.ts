import type { IncomingMessage } from "node:http";

/** The daemon's HTTP limits, in one place (docs/security.md lists them). */
export const limits = {
  /** Headers must arrive within this. */
  headersMs: 15_000,
  /** A body that is not a disk upload must arrive whole within this. */
  bodyMs: 30_000,
  /** A socket silent in both directions this long is closed; long-polls wait at most 60 s. */
  idleMs: 90_000,
  keepAliveMs: 10_000,
  jsonBodyBytes: 1024 * 1024,
};

const deadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/** Closes the connection of a request whose body has not arrived within limits.bodyMs. */
export function armBodyDeadline(req: IncomingMessage): void {
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, limits.bodyMs);
  timer.unref();
  deadlines.set(req, timer);
}

export function clearBodyDeadline(req: IncomingMessage): void {
  clearTimeout(deadlines.get(req));
  deadlines.delete(req);
}
