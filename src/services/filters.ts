import type { Tags } from "../core/types.ts";

/** EC2-style filter values: `*` any run of characters, `?` one character. */
export function matchesWildcard(pattern: string, value: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(value);
}

/** Every wanted tag is present; a wanted value of "*" (or wildcards) matches by pattern. */
export function matchesTags(tags: Tags, wanted: Tags | undefined): boolean {
  if (!wanted) return true;
  return Object.entries(wanted).every(([k, v]) => tags[k] !== undefined && matchesWildcard(v, tags[k] ?? ""));
}
