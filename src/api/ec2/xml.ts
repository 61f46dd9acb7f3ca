import { XMLBuilder } from "fast-xml-parser";
import type { Ec2Error } from "./ec2-error.ts";

export const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/";

/** An element's content: text, or named children; a list is a `{ item: [...] }` set. */
export type XmlValue = string | number | boolean | null | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/** An EC2 list: `<name><item>…</item>…</name>`, and `<name/>` when empty (clients expect the element). */
export const set = (items: XmlValue[]): XmlValue => (items.length > 0 ? { item: items } : "");

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_", suppressEmptyNode: true });
const declaration = { "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" } };

/** Characters XML 1.0 cannot carry at all, even escaped. */
const notXml = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Leaves out what is absent, as EC2 does, rather than writing empty elements; a
 * character XML cannot carry becomes U+FFFD, so no stored string can make an answer unreadable.
 */
function prune(v: XmlValue): XmlValue {
  if (typeof v === "string") return v.replace(notXml, "\uFFFD");
  if (Array.isArray(v)) return v.map(prune);
  if (v === null || typeof v !== "object") return v;
  const out: XmlObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) out[k] = prune(x);
  return out;
}

export function renderResponse(action: string, requestId: string, body: XmlObject): string {
  return builder.build({ ...declaration, [`${action}Response`]: { "@_xmlns": ec2Namespace, requestId, ...(prune(body) as XmlObject) } }) as string;
}

/** EC2's error envelope: Response/Errors/Error/{Code,Message}, RequestID. */
export function renderError(err: Ec2Error, requestId: string): string {
  return builder.build({ ...declaration, Response: prune({ Errors: { Error: { Code: err.code, Message: err.message } }, RequestID: requestId }) }) as string;
}
