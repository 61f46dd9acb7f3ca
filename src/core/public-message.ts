import { AppError } from "./errors.ts";

/** An absolute path of two or more components, quoted or not. */
const absolutePath = /(?<![\w.])\/(?:[\w.@+-]+\/)+([\w.@+-]+)/g;

/**
 * What a caller may read of a failure: an AppError's message as it is (it is
 * written for them), anything else with host paths cut to their last part
 * (`/var/lib/imagesmith/volumes/vol-1.qcow2` → `vol-1.qcow2`). The whole
 * error goes to the daemon log, never to the API.
 */
export function publicMessage(err: unknown): string {
  if (err instanceof AppError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(absolutePath, "$1").split("\n")[0]?.slice(0, 500) ?? "";
}
