// Compiles src/ to dist/ with tsc (tsconfig.build.json), so the CLI and the daemon start
// without compiling TypeScript at every run. Writes to dist.new/ and renames it over dist/:
// a CLI started during a build sees either the old build or none (and then runs the sources).
// dist/.built is written last (scripts/build-state.mjs). Skipped when dist/ is current, unless
// --force.
import { execFileSync } from "node:child_process";
import { rmSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildIsCurrent } from "./build-state.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
if (!process.argv.includes("--force") && buildIsCurrent(root)) process.exit(0);
const next = join(root, "dist.new");
rmSync(next, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json"), "--outDir", next], { stdio: "inherit" });
writeFileSync(join(next, ".built"), `${new Date().toISOString()}\n`);
rmSync(join(root, "dist"), { recursive: true, force: true });
renameSync(next, join(root, "dist"));
