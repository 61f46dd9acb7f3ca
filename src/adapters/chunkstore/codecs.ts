// The chunk codecs by name, with nothing else: the CLI's `serve --compression` choices load
// this, not the codecs themselves (zstd's native module), at every command's start.
export const codecs = ["none", "deflate", "zstd"] as const;
export type Codec = (typeof codecs)[number];
