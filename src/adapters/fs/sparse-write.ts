import { open } from "node:fs/promises";
import { badRequest } from "../../core/errors.ts";
import { isZero } from "../../core/manifest.ts";

const block = 64 * 1024;

/**
 * Writes a request body to a file, leaving all-zero 64 KiB blocks as holes:
 * a disk's free space costs neither writes now nor reads at capture.
 * Returns the number of bytes received.
 */
export async function writeSparse(body: AsyncIterable<Buffer>, file: string, maxBytes: number): Promise<number> {
  const fh = await open(file, "w", 0o600);
  let size = 0;
  let pieces: Buffer[] = [];
  let held = 0;
  // Each run of consecutive non-zero blocks is one write: not one system call per 64 KiB.
  const flush = async (buf: Buffer, at: number) => {
    let run = -1;
    for (let off = 0; off < buf.length; off += block) {
      const data = !isZero(buf.subarray(off, off + block));
      if (data && run < 0) run = off;
      if (!data && run >= 0) {
        await fh.write(buf, run, off - run, at + run);
        run = -1;
      }
    }
    if (run >= 0) await fh.write(buf, run, buf.length - run, at + run);
  };
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > maxBytes) throw badRequest("UPLOAD_TOO_LARGE", `The upload exceeds ${maxBytes} bytes`);
      pieces.push(chunk);
      held += chunk.length;
      if (held < 64 * block) continue;
      // One concat per 4 MiB or so; the tail that is not a whole block waits for more.
      const pending = Buffer.concat(pieces, held);
      const whole = held - (held % block);
      await flush(pending.subarray(0, whole), size - held);
      pieces = whole < held ? [pending.subarray(whole)] : [];
      held -= whole;
    }
    await flush(Buffer.concat(pieces, held), size - held);
    await fh.truncate(size);
    return size;
  } finally {
    await fh.close();
  }
}
