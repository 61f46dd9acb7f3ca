#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step to forget.
// More libuv threads than the default 4: chunk reads, writes and fsyncs run in parallel.
process.env.UV_THREADPOOL_SIZE ??= "16";
const { register } = await import("tsx/esm/api");

register();
await import("../src/cli/main.ts");
