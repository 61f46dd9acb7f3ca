import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chunkStoreContract } from "./chunk-store.contract.ts";
import { inlineCoder, pooledCoder } from "./codec-pool.ts";
import { FsChunkStore } from "./fs-chunk-store.ts";

const dirs = new Map<FsChunkStore, string>();
const coders = {
  "none, inline": () => inlineCoder("none"),
  "deflate, inline": () => inlineCoder("deflate"),
  "zstd, worker threads": () => pooledCoder("zstd", 2),
  "none, worker threads": () => pooledCoder("none", 1),
};
for (const [name, coder] of Object.entries(coders)) {
  chunkStoreContract(`fs (${name})`, {
    async make() {
      const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunks-"));
      const s = new FsChunkStore(dir, coder());
      dirs.set(s, dir);
      return s;
    },
    async corrupt(store, hash) {
      const file = join(dirs.get(store as FsChunkStore) ?? "", "chunks", hash.slice(0, 2), hash);
      const data = await readFile(file);
      data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 0xff;
      await writeFile(file, data);
    },
  });
}
