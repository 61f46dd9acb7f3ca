import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { eachLimit } from "../../core/each-limit.ts";
import { ChunkMissingError, type ChunkStore, type ManifestStore } from "../../core/ports.ts";
import { inlineCoder, type ChunkCoder } from "./codec-pool.ts";

const hashPattern = /^[0-9a-f]{64}$/;

/** Chunks as files under DIR/chunks/ab/abcdef…, written to a temp name and renamed. */
export class FsChunkStore implements ChunkStore {
  private readonly chunksDir: string;
  /** Puts under way, so two writers of one chunk write it once. */
  private readonly writing = new Map<string, Promise<number>>();
  /** Chunk files written since the last flush. */
  private readonly unflushed = new Set<string>();
  /** Prefix directories known to exist. */
  private readonly prefixes = new Set<string>();

  constructor(
    private readonly dir: string,
    /** How chunks are encoded and verified: inline, or in worker threads (codec-pool.ts). */
    private readonly coder: ChunkCoder = inlineCoder("none"),
  ) {
    this.chunksDir = join(dir, "chunks");
  }

  private path(hash: string): string {
    if (!hashPattern.test(hash)) throw new Error(`not a chunk hash: ${hash}`);
    return join(this.chunksDir, hash.slice(0, 2), hash);
  }

  async has(hash: string): Promise<boolean> {
    return stat(this.path(hash)).then(() => true, () => false);
  }

  async put(hash: string, data: Buffer): Promise<number> {
    const path = this.path(hash);
    if (this.writing.has(hash) || (await this.has(hash))) return 0;
    const write = (async () => {
      const parts = await this.coder.encode(data);
      const prefix = hash.slice(0, 2);
      if (!this.prefixes.has(prefix)) {
        await mkdir(join(this.chunksDir, prefix), { recursive: true });
        this.prefixes.add(prefix);
      }
      const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
      const fh = await open(tmp, "w");
      try {
        await fh.writev(parts);
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      this.unflushed.add(path);
      return parts.reduce((n, p) => n + p.length, 0);
    })();
    this.writing.set(hash, write);
    try {
      return await write;
    } finally {
      this.writing.delete(hash);
    }
  }

  async get(hash: string): Promise<Buffer> {
    const stored = await readFile(this.path(hash)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new ChunkMissingError(hash);
      throw err;
    });
    return this.coder.decode(hash, stored);
  }

  async delete(hash: string): Promise<void> {
    this.unflushed.delete(this.path(hash));
    await rm(this.path(hash), { force: true });
  }

  async *list(): AsyncIterable<string> {
    const prefixes = await readdir(this.chunksDir).catch(() => [] as string[]);
    for (const p of prefixes.sort()) {
      for (const f of (await readdir(join(this.chunksDir, p))).sort()) if (hashPattern.test(f)) yield f;
    }
  }

  async removePartial(): Promise<number> {
    let removed = 0;
    const prefixes = await readdir(this.chunksDir).catch(() => [] as string[]);
    for (const p of prefixes) {
      for (const f of await readdir(join(this.chunksDir, p))) {
        if (!f.endsWith(".tmp")) continue;
        await rm(join(this.chunksDir, p, f), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** fsync of every chunk written since the last flush, then of their directories (for the renames). */
  async flush(): Promise<void> {
    const files = [...this.unflushed];
    this.unflushed.clear();
    const dirs = [...new Set(files.map((f) => dirname(f)))];
    await fsyncAll(files);
    await fsyncAll(dirs);
  }

  async usage(): Promise<number> {
    let total = 0;
    for await (const h of this.list()) total += (await stat(this.path(h))).size;
    return total;
  }
}

/** Manifests as files under DIR/manifests/, written atomically and synced. */
export class FsManifestStore implements ManifestStore {
  private readonly manifestsDir: string;

  constructor(dir: string) {
    this.manifestsDir = join(dir, "manifests");
  }

  private path(id: string): string {
    if (!/^snap-[0-9a-f]{17}$/.test(id)) throw new Error(`not a snapshot id: ${id}`);
    return join(this.manifestsDir, `${id}.manifest`);
  }

  async put(id: string, data: Buffer): Promise<void> {
    await mkdir(this.manifestsDir, { recursive: true });
    const tmp = `${this.path(id)}.tmp`;
    await writeFile(tmp, data, { flush: true });
    await rename(tmp, this.path(id));
    await fsyncAll([this.manifestsDir]);
  }

  async get(id: string): Promise<Buffer | undefined> {
    return readFile(this.path(id)).catch(() => undefined);
  }

  async delete(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }
}

async function fsyncAll(paths: string[]): Promise<void> {
  await eachLimit(paths, 32, async (path) => {
    const fh = await open(path, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}
