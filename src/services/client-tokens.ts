import { conflict } from "../core/errors.ts";
import { checkClientToken } from "./launch-rules.ts";

/**
 * EC2 idempotency for one-resource calls (CopyImage, CreateVolume): a call
 * repeated with the token of an earlier one gets that call's resource back,
 * if it asks for the same; asking for something else under one token is a 409.
 * Undefined: no earlier call, go ahead. Call inside the transaction that inserts.
 */
export function repeatedCall<T extends { clientToken?: string | null }>(all: T[], token: string | undefined, same: (earlier: T) => boolean, what: string): T | undefined {
  if (token === undefined) return undefined;
  checkClientToken(token);
  const earlier = all.find((x) => x.clientToken === token);
  if (earlier && !same(earlier)) {
    throw conflict("IDEMPOTENT_PARAMETER_MISMATCH", `Client token ${token} was used for another ${what}: a repeated call must ask for the same`);
  }
  return earlier;
}
