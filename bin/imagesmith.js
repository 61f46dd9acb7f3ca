#!/usr/bin/env node
// Runs the compiled build in dist/ (scripts/build.mjs, run by setup and by `npm test`) while it
// is the build of the current sources (scripts/build-state.mjs). Otherwise it runs the
// TypeScript sources through tsx: always current, but compiled at every start.
// More libuv threads than the default 4: chunk reads, writes and fsyncs run in parallel.
import { fileURLToPath } from "node:url";
import { buildIsCurrent } from "../scripts/build-state.mjs";

process.env.UV_THREADPOOL_SIZE ??= "16";

if (buildIsCurrent(fileURLToPath(new URL("..", import.meta.url)))) {
  await import("../dist/cli/main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
