import { open, stat } from "node:fs/promises";

export async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/** Reads a growing console log from an offset, a little at a time, keeping the text of this boot. */
export class ConsoleScanner {
  private text = "";

  constructor(
    private readonly path: string,
    private offset: number,
  ) {}

  /**
   * Whether what the console printed since the offset matches. Not anchored
   * at line ends: a prompt such as `login:` has no newline after it. The kept
   * text is capped, so a chatty guest costs bounded memory.
   */
  async has(pattern: RegExp): Promise<boolean> {
    const size = await fileSize(this.path);
    if (size > this.offset) {
      const fh = await open(this.path, "r");
      try {
        const buf = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
        await fh.read(buf, 0, buf.length, this.offset);
        this.offset += buf.length;
        this.text = (this.text + buf.toString("utf8")).slice(-(256 * 1024));
      } finally {
        await fh.close();
      }
    }
    return pattern.test(this.text);
  }
}
