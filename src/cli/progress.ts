import cliProgress from "cli-progress";

/** A progress bar on stderr when it is a terminal; silent otherwise. */
export function progressBar(label: string, total: number): { update(value: number, note?: string): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {note}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { note: "" });
  return {
    update: (value, note = "") => bar.update(value, { note }),
    stop: () => bar.stop(),
  };
}
