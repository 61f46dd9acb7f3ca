import { isPasswordData } from "./guest-contract.ts";

// EC2Config and EC2Launch print the encrypted admin password on the serial
// console between <Password> tags, where GetPasswordData picks it up; the
// base64 may be wrapped over lines.
const tagged = /<Password>([^<]*)<\/Password>/g;

/**
 * The last complete, valid password a guest printed on its console, or null.
 * A tag still open (the output is cut mid-line) or holding anything but
 * base64 of at most 4096 characters is skipped: a guest that booted again
 * prints a newer one after it.
 */
export function passwordFromConsole(text: string): string | null {
  let found: string | null = null;
  for (const m of text.matchAll(tagged)) {
    const data = (m[1] ?? "").replace(/\s+/g, "");
    if (isPasswordData(data)) found = data;
  }
  return found;
}
