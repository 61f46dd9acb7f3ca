import { spawn } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import type { Accelerator } from "./qemu-args.ts";

function newestKernel(): string | undefined {
  try {
    const kernels = readdirSync("/boot").filter((f) => f.startsWith("vmlinuz-")).sort();
    const last = kernels[kernels.length - 1];
    return last ? `/boot/${last}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether KVM really works. /dev/kvm may exist while QEMU aborts (unsupported
 * MSRs with -cpu host) or stops with "KVM internal error" once the guest
 * leaves the firmware, so the probe boots the host's kernel with no root
 * disk, as instances would run (-cpu host), and waits for its panic line.
 * KVM reaches it in about a second; anything else within the limit is a no.
 */
export async function probeKvm(timeoutMs = 10_000): Promise<boolean> {
  const kernel = newestKernel();
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  if (!kernel) return false;
  const qemu = spawn(
    "qemu-system-x86_64",
    ["-accel", "kvm", "-cpu", "host", "-machine", "pc", "-m", "128", "-nodefaults", "-display", "none",
      "-no-reboot", "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 quiet"],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  return new Promise<boolean>((resolve) => {
    let out = "";
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      qemu.kill("SIGKILL");
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    qemu.on("error", () => finish(false));
    qemu.on("exit", () => finish(/Kernel panic/.test(out)));
    qemu.stdout.setEncoding("utf8");
    qemu.stdout.on("data", (chunk: string) => {
      out += chunk;
      if (/Kernel panic/.test(out)) finish(true);
    });
  });
}

export async function chooseAccelerator(wanted: "auto" | Accelerator): Promise<Accelerator> {
  if (wanted !== "auto") return wanted;
  return (await probeKvm()) ? "kvm" : "tcg";
}
