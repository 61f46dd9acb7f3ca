import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyRequest } from "fastify";
import { unauthorized } from "../core/errors.ts";
import type { Catalog } from "../core/ports.ts";

export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

/**
 * On first start, creates the admin token in DIR/admin-token (0600); the
 * catalog keeps only its SHA-256.
 */
export async function ensureAdminToken(catalog: Catalog, dataDir: string): Promise<void> {
  const file = join(dataDir, "admin-token");
  const existing = await readFile(file, "utf8").catch(() => undefined);
  if (existing && catalog.findTokenHash(hashToken(existing.trim()))) return;
  const token = `ism_${randomBytes(24).toString("base64url")}`;
  catalog.addTokenHash(hashToken(token), "admin");
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

export function authenticate(catalog: Catalog, req: Pick<FastifyRequest, "headers">): void {
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) throw unauthorized("Missing bearer token: send Authorization: Bearer <token>");
  if (!catalog.findTokenHash(hashToken(m[1]))) throw unauthorized("The bearer token is not valid");
}
