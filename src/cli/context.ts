import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { Client } from "../client/client.ts";
import type { OutputFormat } from "./output.ts";

export const defaultEndpoint = "http://127.0.0.1:8787";
export const defaultDataDir = () => process.env.IMAGESMITH_DATA_DIR ?? join(homedir(), ".local", "share", "imagesmith");

export interface GlobalOptions {
  endpoint?: string;
  token?: string;
  dataDir?: string;
  output: OutputFormat;
}

export class CliError extends Error {}

/** The client for the global options: endpoint and token from flags, environment or the data dir. */
export function clientFor(cmd: Command): { client: Client; output: OutputFormat } {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const endpoint = o.endpoint ?? process.env.IMAGESMITH_ENDPOINT ?? defaultEndpoint;
  let token = o.token ?? process.env.IMAGESMITH_TOKEN;
  if (!token) {
    const file = join(o.dataDir ?? defaultDataDir(), "admin-token");
    try {
      token = readFileSync(file, "utf8").trim();
    } catch {
      throw new CliError(`No API token: pass --token, set IMAGESMITH_TOKEN, or point --data-dir at the daemon's data dir (no ${file})`);
    }
  }
  return { client: new Client(endpoint, token), output: o.output };
}
