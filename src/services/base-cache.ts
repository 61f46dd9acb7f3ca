import { readdir, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { paths, type ServiceContext } from "./context.ts";

const baseName = /^(snap-[0-9a-f]{17})\.qcow2$/;
const leftover = /^snap-[0-9a-f]{17}\.qcow2\.(part|raw)$/;

/**
 * The host cache of materialized bases (cache/snap-….qcow2), kept under
 * settings.cacheMaxBytes least-recently-used. A base's use time is its
 * file's mtime, so the order survives a restart.
 */
export class BaseCache {
  /** One eviction pass at a time. */
  private evicting: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: ServiceContext) {}

  get dir(): string {
    return paths.cache(this.ctx.settings.dataDir);
  }

  path(snapshotId: string): string {
    return join(this.dir, `${snapshotId}.qcow2`);
  }

  /** Is the base cached? A hit refreshes its use time. */
  async hit(snapshotId: string): Promise<boolean> {
    const now = new Date();
    return utimes(this.path(snapshotId), now, now).then(
      () => true,
      () => false,
    );
  }

  /** Removes what an interrupted materialize left (.part, .raw); only at start, while none runs. */
  async removeLeftovers(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const stale = names.filter((n) => leftover.test(n));
    for (const n of stale) await rm(join(this.dir, n), { force: true });
    return stale.length;
  }

  /**
   * While the cache's allocated bytes exceed the cap, deletes the least
   * recently used base that no volume overlays and that is not in `busy`
   * (materializing, or just handed to a caller). Returns the snapshot ids evicted.
   */
  evict(busy: ReadonlySet<string>): Promise<string[]> {
    const pass = this.evicting.then(() => this.evictNow(busy));
    this.evicting = pass.catch(() => undefined);
    return pass;
  }

  private async evictNow(busy: ReadonlySet<string>): Promise<string[]> {
    const cap = this.ctx.settings.cacheMaxBytes;
    const bases: { id: string; bytes: number; usedAt: number }[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const id = baseName.exec(name)?.[1];
      const st = id ? await stat(join(this.dir, name)).catch(() => undefined) : undefined;
      if (id && st) bases.push({ id, bytes: st.blocks * 512, usedAt: st.mtimeMs });
    }
    let total = bases.reduce((n, b) => n + b.bytes, 0);
    if (total <= cap) return [];
    const inUse = new Set<string | null>(this.ctx.catalog.volumes.list().map((v) => v.baseSnapshotId));
    const evicted: string[] = [];
    for (const b of bases.sort((x, y) => x.usedAt - y.usedAt)) {
      if (total <= cap) break;
      if (inUse.has(b.id) || busy.has(b.id)) continue;
      await rm(this.path(b.id), { force: true });
      total -= b.bytes;
      evicted.push(b.id);
      this.ctx.log.info({ snapshotId: b.id, bytes: b.bytes }, "evicted cached base");
    }
    if (total > cap) this.ctx.log.warn({ bytes: total, cap }, "host cache above its cap: every remaining base is in use");
    return evicted;
  }
}
