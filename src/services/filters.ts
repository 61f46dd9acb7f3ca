import type { Tags } from "../core/types.ts";

/** Longest filter pattern accepted at the edges (API, CLI); longer is a 400 there. */
export const maxPatternLength = 256;

/** Whether `part` matches `value` at `at`, with `?` matching any one character. */
function matchesAt(part: string, value: string, at: number): boolean {
  for (let i = 0; i < part.length; i++) {
    if (part[i] !== "?" && part[i] !== value[at + i]) return false;
  }
  return true;
}

/** The first position at or after `from` where `part` matches, or -1. */
function find(part: string, value: string, from: number): number {
  if (!part.includes("?")) return value.indexOf(part, from);
  for (let at = from; at + part.length <= value.length; at++) if (matchesAt(part, value, at)) return at;
  return -1;
}

/**
 * EC2-style filter values: `*` any run of characters, `?` one character,
 * case-sensitive, nothing else special. No regular expression and no
 * backtracking: the pattern is cut at its stars, the first piece must start
 * the value, the last must end it, and each piece between is taken at its
 * first match left to right (taking the first match is never wrong). Every
 * piece is looked for once, so the time is bounded by value length times
 * pattern length, both capped at the edges.
 */
export function matchesWildcard(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  const first = parts[0] ?? "";
  if (parts.length === 1) return first.length === value.length && matchesAt(first, value, 0);
  const last = parts[parts.length - 1] ?? "";
  if (first.length + last.length > value.length) return false;
  if (!matchesAt(first, value, 0) || !matchesAt(last, value, value.length - last.length)) return false;
  let pos = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    if (part === "") continue;
    const at = find(part, value, pos);
    if (at < 0 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

/** Every wanted tag is present; a wanted value of "*" (or wildcards) matches by pattern. */
export function matchesTags(tags: Tags, wanted: Tags | undefined): boolean {
  if (!wanted) return true;
  return Object.entries(wanted).every(([k, v]) => Object.hasOwn(tags, k) && matchesWildcard(v, tags[k] ?? ""));
}
