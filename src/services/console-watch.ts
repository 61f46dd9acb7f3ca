import { open, readFile, stat } from "node:fs/promises";

export async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/**
 * Polls a growing console log from `offset` until a line matches, the
 * signal aborts, or the time runs out. Resolves with the matching line or
 * undefined.
 */
export async function waitForConsoleLine(
  path: string,
  pattern: RegExp,
  options: { offset: number; timeoutMs: number; signal: AbortSignal },
): Promise<string | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let offset = options.offset;
  let partial = "";
  while (!options.signal.aborted && Date.now() < deadline) {
    const size = await fileSize(path);
    if (size > offset) {
      const fh = await open(path, "r");
      try {
        const buf = Buffer.alloc(size - offset);
        await fh.read(buf, 0, buf.length, offset);
        offset = size;
        const lines = (partial + buf.toString("utf8")).split(/\r?\n/);
        partial = lines.pop() ?? "";
        const hit = lines.find((l) => pattern.test(l));
        if (hit !== undefined) return hit;
      } finally {
        await fh.close();
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

/** Whether the console log holds a matching line after `offset`. */
export async function consoleHas(path: string, offset: number, pattern: RegExp): Promise<boolean> {
  const text = await readFile(path).then((b) => b.subarray(offset).toString("utf8"), () => "");
  return text.split(/\r?\n/).some((l) => pattern.test(l));
}
