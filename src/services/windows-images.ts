import { badRequest, conflict } from "../core/errors.ts";
import type { Image, Operation } from "../core/types.ts";
import type { PreflightFinding, WindowsInspection } from "../core/windows.ts";
import { preflightFindings } from "../core/windows-preflight.ts";
import type { ServiceContext } from "./context.ts";
import type { Images } from "./images.ts";
import type { Instances } from "./instances.ts";
import type { Operations } from "./operations.ts";
import type { Snapshots } from "./snapshots.ts";
import type { Volumes } from "./volumes.ts";

export interface PreflightResult {
  windows: WindowsInspection | null;
  findings: PreflightFinding[];
  /** What --fix deleted (an instance's stopped disk only). */
  fixed: string[];
}

/** Instance states whose boot disk no VM holds open: preflight can read it, and --fix write it. */
const diskAtRest = ["stopped", "deallocated", "generalized"];

/** One line per finding, for an error message and the CLI. */
export function describeFindings(findings: PreflightFinding[]): string {
  return findings.map((f) => `${f.severity} ${f.code} (${f.where}): ${f.message}. Fix: ${f.fix}`).join("; ");
}

/**
 * Windows images offline: what inspection finds on a disk, and the Sysprep
 * preflight (docs/windows.md). The rules are core/windows-preflight.ts; this
 * finds the disk, counts the lineage's generalizations, and runs the tools.
 */
export class WindowsImages {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
    private readonly images: Images,
    private readonly instances: Instances,
    private readonly volumes: Volumes,
    private readonly snapshots: Snapshots,
  ) {}

  /**
   * Before a generalized Windows capture, on the copy: the findings, or a 409
   * that lists the blocking ones (force: go on anyway, as documented).
   */
  async checkCapture(file: string, source: Image, options: { force: boolean }): Promise<{ windows: WindowsInspection | null; findings: PreflightFinding[] }> {
    const [found] = await this.ctx.windowsTools.inspect([{ file, format: "qcow2" }]);
    const findings = this.findings(found?.facts ?? null, source);
    const blocking = findings.filter((f) => f.severity === "blocking");
    if (blocking.length > 0 && !options.force) {
      throw conflict("SYSPREP_PREFLIGHT_FAILED", `Sysprep would fail on this disk: ${describeFindings(blocking)} (--force captures anyway)`);
    }
    return { windows: found?.windows ?? null, findings };
  }

  /** `image preflight`: an image's root disk, or a stopped instance's boot disk (which --fix may change). */
  preflight(targetId: string, options: { fix: boolean }): Operation {
    const target = targetId.startsWith("i-") ? this.instanceDisk(targetId, options) : this.imageDisk(targetId, options);
    const op = this.ops.create("windows-preflight", targetId, `Sysprep preflight of ${targetId}`);
    this.ops.runInBackground(op.id, async () => {
      const result = await target.read(async (file) => {
        this.ops.progress(op.id, 30, "Inspecting the disk offline (libguestfs, hivex)");
        const fixed = options.fix ? await this.ctx.windowsTools.removeLeftoverAnswerFiles(file) : [];
        const [found] = await this.ctx.windowsTools.inspect([{ file, format: "qcow2" }]);
        return { windows: found?.windows ?? null, findings: this.findings(found?.facts ?? null, target.lineage), fixed };
      });
      const blocking = result.findings.filter((f) => f.severity === "blocking").length;
      const message = `${result.findings.length} finding(s), ${blocking} blocking${result.fixed.length > 0 ? `; deleted ${result.fixed.join(", ")}` : ""}`;
      return { message, result: { ...result } satisfies PreflightResult };
    });
    return op;
  }

  /** The findings of a disk's facts, and the lineage's Sysprep count; no Windows found is a finding too. */
  private findings(facts: Parameters<typeof preflightFindings>[0] | null, lineage: Image): PreflightFinding[] {
    const generalizations = lineage.generalizations ?? 0;
    if (!facts) {
      return [{ code: "NO_WINDOWS", severity: "blocking", where: "the root disk", message: "libguestfs found no Windows installation and no readable partition on this disk", fix: "Check that the image is a Windows system disk" }];
    }
    return preflightFindings(facts, { generalizations });
  }

  private imageDisk(id: string, options: { fix: boolean }): { lineage: Image; read: <T>(fn: (file: string) => Promise<T>) => Promise<T> } {
    if (options.fix) {
      throw badRequest("IMAGE_IS_IMMUTABLE", `Image ${id} cannot be changed: run the preflight with --fix on a stopped instance launched from it, or capture it generalized (generalizing deletes the leftover answer files)`);
    }
    const image = this.windowsImage(this.images.launchable(id, "launch"));
    const root = image.blockDeviceMappings[0];
    if (!root) throw conflict("IMAGE_HAS_NO_DISK", `Image ${id} has no root disk`);
    // The host-cached base, read-only and leased for the read.
    return { lineage: image, read: (fn) => this.snapshots.withBase(root.snapshotId, () => undefined, fn) };
  }

  private instanceDisk(id: string, options: { fix: boolean }): { lineage: Image; read: <T>(fn: (file: string) => Promise<T>) => Promise<T> } {
    const inst = this.instances.get(id);
    if (!diskAtRest.includes(inst.state)) {
      throw conflict("INVALID_INSTANCE_STATE", `Cannot preflight instance ${id}${options.fix ? " with --fix" : ""}: it is ${inst.state}; stop it first (its disk is in use)`);
    }
    const image = this.windowsImage(this.images.get(inst.imageId));
    const boot = this.volumes.get(inst.bootVolumeId);
    return { lineage: image, read: (fn) => fn(boot.path) };
  }

  private windowsImage(image: Image): Image {
    if (image.osType !== "windows") throw badRequest("NOT_WINDOWS", `The Sysprep preflight is for Windows images: ${image.id} is ${image.osType}`);
    return image;
  }
}
