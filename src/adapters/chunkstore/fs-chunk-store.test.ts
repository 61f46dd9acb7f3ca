import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chunkStoreContract } from "./chunk-store.contract.ts";
import { FsChunkStore } from "./fs-chunk-store.ts";

const dirs = new Map<FsChunkStore, string>();
for (const codec of ["none", "deflate"] as const) {
  chunkStoreContract(`fs (${codec})`, {
    async make() {
      const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunks-"));
      const s = new FsChunkStore(dir, codec);
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
