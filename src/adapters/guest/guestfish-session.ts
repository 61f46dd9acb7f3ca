import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";

/**
 * One guestfish process, so one appliance, driven over its stdin: each batch of
 * commands is answered up to a marker line, so that later commands can depend
 * on what earlier ones printed (guestfish flushes its output after each
 * command). A command that fails ends guestfish, which fails the batch; a
 * command written with a leading "-" may fail without that.
 */
export class GuestfishSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly marker = `@@${randomBytes(8).toString("hex")}`;
  private stdout = "";
  private stderr = "";
  private seq = 0;
  private wake: (() => void) | undefined;
  private ended: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  private readonly exited: Promise<void>;
  /** What the session works on now, for error messages: a disk, or the list of disks. */
  context: string;

  constructor(options: { disks: Array<{ file: string; format: string }>; readonly: boolean; env: NodeJS.ProcessEnv; timeoutMs: number; context: string }) {
    const args = [options.readonly ? "--ro" : "--rw"];
    for (const d of options.disks) {
      // Never probed: a raw disk whose content looks like qcow2 would be read as one.
      if (!/^[a-z0-9]+$/.test(d.format)) throw new Error(`Unsupported disk format ${JSON.stringify(d.format)} for ${d.file}`);
      args.push(`--format=${d.format}`, "-a", resolve(d.file));
    }
    this.context = options.context;
    this.child = spawn("guestfish", args, { env: options.env, stdio: ["pipe", "pipe", "pipe"], timeout: options.timeoutMs });
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString("utf8");
      this.wake?.();
    });
    this.child.stderr.on("data", (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString("utf8")).slice(-16384)));
    // guestfish gone: its exit says why, not the broken pipe.
    this.child.stdin.on("error", () => {});
    this.exited = new Promise((done) => {
      this.child.once("error", (error) => {
        this.ended = { code: null, signal: null, error };
        this.wake?.();
        done();
      });
      this.child.once("close", (code, signal) => {
        this.ended ??= { code, signal };
        this.wake?.();
        done();
      });
    });
  }

  /** An `echo` of a section name, so that a batch's output can be split by sections(). */
  mark(name: string): string {
    if (/[\n"\\]/.test(name)) throw new Error(`Bad section name ${JSON.stringify(name)}`);
    return `echo "${this.marker}:${name}"`;
  }

  /** Runs commands; resolves with what they printed. */
  async send(commands: string[]): Promise<string> {
    const end = `${this.marker}-${this.seq++}\n`;
    if (this.ended) throw this.failure();
    this.child.stdin.write(`${commands.join("\n")}\necho ${end}`);
    for (;;) {
      const at = this.stdout.indexOf(end);
      if (at >= 0) {
        const out = this.stdout.slice(0, at);
        this.stdout = this.stdout.slice(at + end.length);
        return out;
      }
      if (this.ended) throw this.failure();
      await new Promise<void>((wake) => (this.wake = wake));
      this.wake = undefined;
    }
  }

  /** Runs commands; their output split at the mark() lines, each section's lines without the blank ones. */
  async sections(commands: string[]): Promise<Map<string, string[]>> {
    const out = await this.send(commands);
    const found = new Map<string, string[]>();
    let current: string[] = [];
    for (const line of out.split("\n")) {
      if (line.startsWith(`${this.marker}:`)) found.set(line.slice(this.marker.length + 1), (current = []));
      else if (line !== "") current.push(line);
    }
    return found;
  }

  /** Ends guestfish cleanly (for a read-write session this is when the disks are synced); throws if it failed. */
  async close(): Promise<void> {
    if (!this.ended) this.child.stdin.end("exit\n");
    await this.exited;
    if (this.ended?.code !== 0) throw this.failure();
  }

  /** Stops guestfish after an error elsewhere; never throws. */
  async kill(): Promise<void> {
    if (!this.ended) this.child.kill("SIGKILL");
    await this.exited;
  }

  private failure(): Error {
    const e = this.ended;
    const how = e?.error ? e.error.message : e?.signal ? `killed by ${e.signal} (timed out?)` : `exit status ${e?.code}`;
    return new Error(`guestfish failed on ${this.context} (${how}): ${lastLines(this.stderr)}`);
  }
}

/** libguestfs's own error lines, else the last lines of stderr. */
export function lastLines(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean);
  const errors = lines.filter((l) => /error/i.test(l));
  return (errors.length > 0 ? errors.slice(-2) : lines.slice(-3)).join(" | ") || "(nothing on stderr)";
}

/** A guestfish double-quoted string (guestfish reads backslash escapes in it). */
export function quote(s: string): string {
  if (/[\n\r\0]/.test(s)) throw new Error(`Cannot pass ${JSON.stringify(s)} to guestfish`);
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
