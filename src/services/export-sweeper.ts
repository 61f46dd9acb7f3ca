import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { paths, type ServiceContext } from "./context.ts";

/**
 * Export files (exports/op-….<ext>) are removed settings.exportTtlMs after
 * they were written (their mtime), so a host never fills up with exports
 * nobody downloads. `.part` files are exports under way, removed at start only.
 */
export class ExportSweeper {
  constructor(private readonly ctx: ServiceContext) {}

  /** How often the daemon sweeps: often enough that a file outlives its lifetime by a quarter at most. */
  get intervalMs(): number {
    return Math.min(60_000, Math.max(250, this.ctx.settings.exportTtlMs / 4));
  }

  /** Removes expired exports (and, at start, partial ones); returns the file names removed. */
  async sweep(options: { partials: boolean }, now = Date.now()): Promise<string[]> {
    const dir = paths.exports(this.ctx.settings.dataDir);
    const removed: string[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const file = join(dir, name);
      const partial = name.endsWith(".part");
      if (partial && !options.partials) continue;
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (!partial && now - st.mtimeMs < this.ctx.settings.exportTtlMs) continue;
      await rm(file, { force: true });
      removed.push(name);
    }
    if (removed.length > 0) this.ctx.log.info({ files: removed }, "removed expired export files");
    return removed;
  }
}
