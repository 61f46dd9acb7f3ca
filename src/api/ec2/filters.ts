import type { Tags } from "../../core/types.ts";
import { matchesWildcard, maxPatternLength } from "../../services/filters.ts";
import { invalidParameter } from "./ec2-error.ts";
import type { Filter, Params } from "./params.ts";

/** How a filter name reads a resource: one value, several, or none. */
export type FilterFields<T> = Record<string, (item: T) => string | number | boolean | null | undefined | (string | number | boolean | null | undefined)[]>;

const maxFilterValues = 200;
const maxFilters = 50;
/**
 * Character comparisons one request's filters may cost: a `?` pattern costs up to
 * its length times the value's, so many long patterns over many long tags could
 * hold the event loop for seconds. Past this the request is refused instead.
 */
export const filterWorkBudget = 20_000_000;

function checkFilters(filters: Filter[], names: string[]): void {
  if (filters.length > maxFilters) throw invalidParameter(`A request may have at most ${maxFilters} filters`);
  for (const f of filters) {
    const known = names.includes(f.name) || /^tag:.{1,128}$/.test(f.name) || f.name === "tag-key" || f.name === "tag-value";
    if (!known) throw invalidParameter(`The filter '${f.name.slice(0, 64)}' is invalid; this action filters by ${names.join(", ")}, tag:KEY, tag-key, tag-value`);
    if (f.values.length === 0) throw invalidParameter(`The filter '${f.name.slice(0, 64)}' needs at least one value`);
    if (f.values.length > maxFilterValues) throw invalidParameter(`A filter may have at most ${maxFilterValues} values`);
    if (f.values.some((v) => v.length > maxPatternLength)) throw invalidParameter(`A filter value may have at most ${maxPatternLength} characters`);
  }
}

function readField<T>(f: Filter, item: T, fields: FilterFields<T>, tags: Tags): string[] {
  if (f.name === "tag-key") return Object.keys(tags);
  if (f.name === "tag-value") return Object.values(tags);
  if (f.name.startsWith("tag:")) {
    const key = f.name.slice(4);
    return Object.hasOwn(tags, key) ? [tags[key] ?? ""] : [];
  }
  const read = fields[f.name];
  const v = read ? read(item) : undefined;
  return (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined && x !== null).map(String);
}

/**
 * EC2 filter semantics: filters are AND'ed, each filter's values OR'ed; a
 * value matches with `*` and `?` only, case-sensitively.
 */
export function applyFilters<T>(items: T[], filters: Filter[], fields: FilterFields<T>, tagsOf: (item: T) => Tags): T[] {
  checkFilters(filters, Object.keys(fields));
  let budget = filterWorkBudget;
  const matches = (pattern: string, v: string) => {
    budget -= (pattern.length + 1) * (v.length + 1);
    if (budget < 0) throw invalidParameter("These filters would take too long to apply here: use fewer or shorter patterns, or fewer '?'");
    return matchesWildcard(pattern, v);
  };
  return items.filter((item) =>
    filters.every((f) => {
      const have = readField(f, item, fields, tagsOf(item));
      return f.values.some((pattern) => have.some((v) => matches(pattern, v)));
    }),
  );
}

/** Where a page starts and how long it is, as MaxResults and NextToken asked. */
export interface PageRequest {
  max: number | undefined;
  start: number;
}

/**
 * MaxResults / NextToken. A MaxResults above the action's most is that most, as
 * EC2 does (the AWS CLI asks for 1000 whatever the action); below its least, refused.
 * The token is where the next page starts, opaque to clients.
 */
export function readPage(p: Params, bounds: { min: number; max: number } = { min: 1, max: 1000 }): PageRequest {
  const asked = p.int("MaxResults", bounds.min, Number.MAX_SAFE_INTEGER);
  const token = p.string("NextToken");
  let start = 0;
  if (token !== undefined) {
    const m = /^o(\d{1,9})$/.exec(Buffer.from(token, "base64url").toString("latin1"));
    if (!m) throw invalidParameter("The NextToken is not valid: pass the nextToken of the previous page");
    start = Number(m[1]);
  }
  return { max: asked === undefined ? undefined : Math.min(asked, bounds.max), start };
}

export function pageOf<T>(items: T[], req: PageRequest): { page: T[]; nextToken: string | undefined } {
  if (req.max === undefined) return { page: items.slice(req.start), nextToken: undefined };
  const end = req.start + req.max;
  return { page: items.slice(req.start, end), nextToken: end < items.length ? Buffer.from(`o${end}`).toString("base64url") : undefined };
}
