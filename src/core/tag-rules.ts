// The rules of tags, as EC2 has them, in one place: every way a tag comes in
// (a create with tags, CreateTags, DeleteTags) goes through these, and the
// /v1 schema takes its bounds from tagLimits.
import { badRequest } from "./errors.ts";
import type { Tags } from "./types.ts";

export const tagLimits = { keyLength: 128, valueLength: 256, perResource: 50 } as const;

/** Keys with these prefixes are not the user's: aws: as in EC2, imagesmith: the platform's own. */
export const reservedTagPrefixes = ["aws:", "imagesmith:"] as const;

/** How DeleteTags names a tag: with a value, only that value goes; without one, any. */
export interface TagSelector {
  key: string;
  value?: string;
}

/** Control characters (but tab, CR, LF) and noncharacters: no XML answer could carry them. */
const unprintable = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]/;

export function isReservedTagKey(key: string): boolean {
  return reservedTagPrefixes.some((p) => key.toLowerCase().startsWith(p));
}

/** A key the user may set or remove: 1 to 128 characters, no reserved prefix. */
export function checkTagKey(key: string): void {
  if (key.length < 1 || key.length > tagLimits.keyLength) {
    throw badRequest("INVALID_TAG", `A tag key must be 1 to ${tagLimits.keyLength} characters, not ${key.length}`);
  }
  if (unprintable.test(key)) throw badRequest("INVALID_TAG", "A tag key may not hold control characters");
  if (isReservedTagKey(key)) {
    throw badRequest("RESERVED_TAG_KEY", `Tag key ${key.slice(0, 32)} is reserved: keys starting with ${reservedTagPrefixes.join(" or ")} belong to the platform`);
  }
}

function checkTagValue(key: string, value: unknown): void {
  if (typeof value !== "string" || value.length > tagLimits.valueLength) {
    throw badRequest("INVALID_TAG", `The value of tag ${key.slice(0, 32)} must be a string of at most ${tagLimits.valueLength} characters`);
  }
  if (unprintable.test(value)) throw badRequest("INVALID_TAG", `The value of tag ${key.slice(0, 32)} may not hold control characters`);
}

/** Tags a user asks for: every key and value valid, and no more than one resource holds. */
export function checkTags(tags: Tags): void {
  for (const [key, value] of Object.entries(tags)) {
    checkTagKey(key);
    checkTagValue(key, value);
  }
  checkTagCount(tags, "A resource");
}

/** Tags a user asks to remove: keys the user may remove, values that could be tags. */
export function checkTagSelectors(selectors: TagSelector[]): void {
  for (const s of selectors) {
    checkTagKey(s.key);
    if (s.value !== undefined) checkTagValue(s.key, s.value);
  }
}

/** A resource holds at most 50 tags. */
export function checkTagCount(tags: Tags, resource: string): void {
  const n = Object.keys(tags).length;
  if (n > tagLimits.perResource) {
    throw badRequest("TAG_LIMIT_EXCEEDED", `${resource} would have ${n} tags: the limit is ${tagLimits.perResource} per resource`);
  }
}

/** The tags with `added` set over them (a key given again takes the new value). */
export function withTags(tags: Tags, added: Tags): Tags {
  // fromEntries defines own properties: a key such as __proto__ stays a tag.
  return Object.fromEntries([...Object.entries(tags), ...Object.entries(added)]);
}

/**
 * The tags without those selected, as EC2 DeleteTags: a selector with a value
 * removes the tag only when its value is that one, without a value whatever
 * its value; no selector at all removes every tag the user may remove.
 */
export function withoutTags(tags: Tags, selectors: TagSelector[]): Tags {
  const selected = (key: string, value: string) =>
    selectors.length === 0 ? !isReservedTagKey(key) : selectors.some((s) => s.key === key && (s.value === undefined || s.value === value));
  return Object.fromEntries(Object.entries(tags).filter(([key, value]) => !selected(key, value)));
}

/** The tags a user set, without the reserved ones (what a copy takes). */
export function userTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !isReservedTagKey(key)));
}
