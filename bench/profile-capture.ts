// Profiling aid (not part of `npm run bench`): captures a raw disk straight into a chunk store,
// with no daemon or HTTP, to see where a full capture's time goes.
//   node --import tsx --cpu-prof bench/profile-capture.ts DISK [zstd|none] [inline|pool]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inlineCoder, pooledCoder } from "../src/adapters/chunkstore/codec-pool.ts";
import type { Codec } from "../src/adapters/chunkstore/chunk-codec.ts";
import { FsChunkStore } from "../src/adapters/chunkstore/fs-chunk-store.ts";
import { mapExtents } from "../src/adapters/images/disk-layers.ts";
import { chunkSize } from "../src/core/manifest.ts";
import { captureChunks } from "../src/services/chunk-io.ts";
import { timed } from "./result.ts";
import { stat } from "node:fs/promises";

const [disk = "", codec = "zstd", where = "pool"] = process.argv.slice(2);
const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "imagesmith-profile-"));
try {
  const store = new FsChunkStore(dir, where === "pool" ? pooledCoder(codec as Codec) : inlineCoder(codec as Codec));
  const extents = await mapExtents(disk, "raw");
  const changed = extents.filter((e) => e.data).map((e) => ({ start: e.start, length: e.length }));
  const size = (await stat(disk)).size;
  const run = await timed(() => captureChunks({ raw: disk, volumeSize: size, chunkSize, changed, parent: null, store, onProgress: () => undefined }));
  const flush = await timed(() => store.flush());
  console.log(`capture ${run.seconds.toFixed(2)} s (read ${(run.value.bytesRead / 1e6).toFixed(0)} MB, ${(run.value.bytesRead / 1e6 / run.seconds).toFixed(0)} MB/s), stored ${(run.value.bytesStored / 1e6).toFixed(0)} MB, flush ${flush.seconds.toFixed(2)} s`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
