import { chunkStoreContract } from "./chunk-store.contract.ts";
import { MemoryChunkStore } from "./memory-chunk-store.ts";

chunkStoreContract("memory", {
  make: async () => new MemoryChunkStore(),
  async corrupt(store, hash) {
    const stored = (store as MemoryChunkStore).chunks.get(hash);
    if (stored) stored[stored.length - 1] = (stored[stored.length - 1] ?? 0) ^ 0xff;
  },
});
