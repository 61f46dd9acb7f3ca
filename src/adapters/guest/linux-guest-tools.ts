import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { GuestTools } from "../../core/ports.ts";

const run = promisify(execFile);

// virt-sysprep operations in the spirit of `waagent -deprovision`: identity,
// host keys, leases, persistent net rules, logs, history, temp files. "customize"
// must be listed for the --delete and --run-command below to run.
const operations = [
  "machine-id", "ssh-hostkeys", "net-hostname", "net-hwaddr", "net-nmconn", "dhcp-client-state", "dhcp-server-state",
  "udev-persistent-net", "logfiles", "bash-history", "tmp-files", "utmp", "passwd-backups", "customize",
];
// What those operations do not cover: cloud-init's state and logs (no operation
// for them in libguestfs 1.48; without its state cloud-init runs again as for a
// new instance), the journal, busybox and dropbear files, the tiny agent's state.
const extraDeletes = [
  "/var/lib/cloud", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log", "/var/log/journal/*",
  "/etc/dropbear/*_host_key", "/root/.*_history", "/home/*/.*_history",
  "/etc/hostname", "/var/lib/imagesmith/instance-id", "/var/log/user-data.log", "/var/log/dropbear.log",
];
/** /etc/hosts without the old hostname (cloud-init's manage_etc_hosts writes it anew). */
const cleanHosts = "127.0.0.1 localhost\\n::1 localhost ip6-localhost ip6-loopback\\n";

/** libguestfs tools on a disk that no VM uses: virt-sysprep and guestfish. */
export class LinuxGuestTools implements GuestTools {
  private readonly env: NodeJS.ProcessEnv;

  constructor(accelerator: "kvm" | "tcg") {
    // The direct backend needs no libvirt; force_tcg where KVM does not work.
    this.env = { ...process.env, LIBGUESTFS_BACKEND: "direct", ...(accelerator === "tcg" ? { LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" } : {}) };
  }

  async generalize(disk: string, options: { removeUser: string | null }): Promise<void> {
    const args = ["--format", "qcow2", "-a", disk, "--operations", operations.join(",")];
    for (const d of extraDeletes) args.push("--delete", d);
    // Empty, not absent (systemd's convention). Last: the machine-id operation leaves it on
    // distros it does not know, and the customize step writes one fixed id that every clone would share.
    // A guest captured before its first boot wrote one has none: that is left as it is.
    args.push("--run-command", `test ! -e /etc/hosts || printf '${cleanHosts}' > /etc/hosts`, "--run-command", "test ! -e /etc/machine-id || : > /etc/machine-id");
    const user = options.removeUser;
    if (user === "root") {
      // -deprovision+user for root: its keys go and its password is locked.
      args.push("--delete", "/root/.ssh", "--run-command", "sed -i 's/^root:[^:]*:/root:*:/' /etc/shadow");
    } else if (user) {
      args.push("--run-command", `deluser --remove-home ${user} || userdel -r ${user}`);
    }
    try {
      await run("virt-sysprep", args, { env: this.env, maxBuffer: 16 << 20, timeout: 20 * 60_000 });
    } catch (err) {
      throw new Error(`virt-sysprep failed: ${lastLines(err)}`);
    }
  }

  async findLeftovers(disk: string): Promise<string[]> {
    const script = [
      "echo @machine-id", "-cat /etc/machine-id",
      "echo @host-key", "glob-expand /etc/ssh/ssh_host_*_key", "glob-expand /etc/dropbear/*_host_key",
      "echo @history", "glob-expand /root/.*history", "glob-expand /home/*/.*history",
      "echo @private-key", "glob-expand /root/.ssh/id_*", "glob-expand /home/*/.ssh/id_*",
      "echo @journal", "glob-expand /var/log/journal/*/*.journal",
      "echo @cloud-init", "glob-expand /var/lib/cloud/instance*", "glob-expand /var/log/cloud-init*.log",
      "echo @hostname", "-cat /etc/hostname",
      "echo @hosts", "-cat /etc/hosts",
    ].join("\n");
    let stdout: string;
    try {
      ({ stdout } = await run("sh", ["-c", 'printf "%s\\n" "$1" | guestfish --ro -a "$2" -i', "sh", script, disk], { env: this.env, maxBuffer: 16 << 20, timeout: 10 * 60_000 }));
    } catch (err) {
      throw new Error(`guestfish failed to inspect the generalized disk: ${lastLines(err)}`);
    }
    const found: string[] = [];
    let section = "";
    for (const line of stdout.split("\n").map((l) => l.trim()).filter(Boolean)) {
      if (line.startsWith("@")) section = line.slice(1);
      else if (section === "machine-id") found.push(`machine-id ${line}`);
      else if (section === "host-key") found.push(`SSH host private key ${line}`);
      else if (section === "history") found.push(`shell history ${line}`);
      else if (section === "private-key" && !line.endsWith(".pub")) found.push(`private key ${line}`);
      else if (section === "journal") found.push(`journal file ${line}`);
      else if (section === "cloud-init") found.push(`cloud-init instance state or log ${line}`);
      else if (section === "hostname") found.push(`hostname ${line} in /etc/hostname`);
      // Debian and Ubuntu name the host itself on 127.0.1.1.
      else if (section === "hosts" && /^127\.0\.1\.1\s/.test(line)) found.push(`hostname in /etc/hosts: ${line}`);
    }
    return found;
  }
}

/** The tool's own error line (libguestfs tools print "name: error: …"), else the last lines. */
function lastLines(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  const lines = (e.stderr || e.message || String(err)).trim().split("\n");
  return lines.find((l) => / error: /.test(l))?.trim() ?? lines.slice(-3).join(" | ");
}
