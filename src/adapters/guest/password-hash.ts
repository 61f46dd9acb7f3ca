import { spawn } from "node:child_process";

/**
 * crypt(3) SHA-512 ($6$) of a password with `openssl passwd -6 -stdin`: the
 * plaintext goes through a pipe, never argv (visible in ps) or a file.
 */
export function hashPassword(plaintext: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("openssl", ["passwd", "-6", "-stdin"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    p.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    p.on("error", reject);
    // "close", not "exit": only then has stdout been read to its end.
    p.on("close", (code) => {
      const hash = out.trim();
      if (code === 0 && hash.startsWith("$6$")) resolve(hash);
      else reject(new Error(`openssl passwd failed: ${err.trim() || `exit ${code}`}`));
    });
    p.stdin.end(Buffer.concat([plaintext, Buffer.from("\n")]));
  });
}
