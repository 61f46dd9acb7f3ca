// Whether dist/ is the build of the sources as they are now: dist/.built (written last by
// scripts/build.mjs) is newer than every file under src/ and than the build's own config.
// One home for the rule: bin/imagesmith.js runs dist/ only when it holds, and the build skips
// when it holds.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function newest(dir) {
  let latest = mtime(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : mtime(path));
  }
  return latest;
}

export function buildIsCurrent(root) {
  const built = mtime(join(root, "dist/.built"));
  if (built < 0) return false;
  const inputs = Math.max(newest(join(root, "src")), mtime(join(root, "tsconfig.json")), mtime(join(root, "tsconfig.build.json")), mtime(join(root, "package-lock.json")));
  return inputs <= built;
}
