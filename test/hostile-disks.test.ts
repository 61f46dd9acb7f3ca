import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { ApiError } from "../src/client/client.ts";
import { removeDir, startTestDaemon, type TestDaemon } from "./helpers.ts";

const run = promisify(execFile);
const qemuImg = (...args: string[]) => run("qemu-img", args);

/** A host file with a marker that must never reach an image. */
const marker = `imagesmith-host-secret-${randomBytes(8).toString("hex")}`;

/** Rewrites the embedded descriptor of a sparse VMDK (where its header says), and its capacity if given. */
async function patchEmbeddedDescriptor(file: string, edit: (text: string) => string, capacity?: bigint): Promise<void> {
  const buf = await readFile(file);
  const offset = Number(buf.readBigUInt64LE(28)) * 512;
  const length = Number(buf.readBigUInt64LE(36)) * 512;
  const text = edit(buf.subarray(offset, offset + length).toString("latin1").replace(/\0.*$/s, ""));
  assert.ok(text.length < length, "the descriptor still fits");
  buf.fill(0, offset, offset + length);
  buf.write(text, offset, "latin1");
  if (capacity !== undefined) buf.writeBigUInt64LE(capacity, 12);
  await writeFile(file, buf);
}

describe("hostile disk files", { timeout: 900_000 }, () => {
  let t: TestDaemon;
  let work: string;
  let secret: string;
  const attacks: { name: string; file: string; status: number; code: string }[] = [];

  /** Wraps a disk in an OVA (a tar with an .ovf), the way the attack would arrive. */
  const ova = async (name: string, members: string[], cwd: string) => {
    const file = join(work, `${name}.ova`);
    await writeFile(join(cwd, "vm.ovf"), '<?xml version="1.0"?><Envelope/>');
    await run("tar", ["-cf", file, "-C", cwd, "vm.ovf", ...members]);
    return file;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "imagesmith-hostile-"));
    secret = join(work, "host-secret");
    // Sector-sized and with a boot signature, so that it would pass as a raw disk if it were ever read as one.
    const content = Buffer.alloc(1024 * 1024, `${marker}\n`);
    content[510] = 0x55;
    content[511] = 0xaa;
    await writeFile(secret, content);
    t = await startTestDaemon();
    const add = (name: string, file: string, status: number, code: string) => attacks.push({ name, file, status, code });
    const f = (n: string) => join(work, n);

    // Backing files, absolute and relative, and through protocols.
    await qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", secret, "-F", "raw", f("backing-abs.qcow2"), "1M");
    add("qcow2 with an absolute backing file", f("backing-abs.qcow2"), 400, "UNSAFE_DISK_IMAGE");
    await qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "../admin-token", "-F", "raw", f("backing-rel.qcow2"), "1M");
    add("qcow2 with a relative backing file (../admin-token)", f("backing-rel.qcow2"), 400, "UNSAFE_DISK_IMAGE");
    for (const [n, backing] of [["nbd", "nbd:127.0.0.1:1"], ["json", `json:{"driver":"raw","file":{"driver":"file","filename":"${secret}"}}`], ["fat", "fat:/etc"], ["http", "http://127.0.0.1:1/disk"]] as const) {
      await qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", f(`backing-${n}.qcow2`), "1M");
      add(`qcow2 with a ${n}: backing file`, f(`backing-${n}.qcow2`), 400, "UNSAFE_DISK_IMAGE");
    }
    // Sparse VMDKs whose embedded descriptor is the attack: a parent hint, and (capacity 0) FLAT extents.
    await qemuImg("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", f("vmdk-parent.vmdk"), "1M");
    await patchEmbeddedDescriptor(f("vmdk-parent.vmdk"), (d) => d.replace("createType=", `parentFileNameHint="${secret}"\ncreateType=`));
    add("streamOptimized VMDK with a parentFileNameHint", f("vmdk-parent.vmdk"), 400, "UNSAFE_DISK_IMAGE");
    await qemuImg("create", "-q", "-f", "vmdk", f("vmdk-embedded.vmdk"), "1M");
    await patchEmbeddedDescriptor(f("vmdk-embedded.vmdk"), () => `version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "${secret}" 0\n`, 0n);
    add("sparse VMDK of capacity 0 whose embedded descriptor has a FLAT extent", f("vmdk-embedded.vmdk"), 400, "UNSAFE_DISK_IMAGE");
    // An external data file: made on a scratch file, then pointed at the host file.
    const scratch = f("data-file-scratch.raw");
    await qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${scratch}`, f("data-file.qcow2"), "1M");
    const qcow = await readFile(f("data-file.qcow2"));
    const at = qcow.indexOf(Buffer.from(scratch));
    assert.ok(at > 0, "the data file name is in the header extension");
    // A name of the same length keeps the header extension valid: the secret's path, with leading slashes.
    const samePath = `${"/".repeat(Math.max(0, scratch.length - secret.length))}${secret}`;
    assert.equal(samePath.length, scratch.length);
    Buffer.from(samePath).copy(qcow, at);
    await writeFile(f("data-file.qcow2"), qcow);
    add("qcow2 with an external data file naming a host file", f("data-file.qcow2"), 400, "UNSAFE_DISK_IMAGE");
    // VMDK descriptors whose extents name host files.
    await writeFile(f("flat.vmdk"), `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "${secret}" 0\nddb.virtualHWVersion = "4"\n`);
    add("VMDK descriptor with a FLAT extent on a host file", f("flat.vmdk"), 400, "UNSAFE_DISK_IMAGE");
    await qemuImg("create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", f("split.vmdk"), "3G");
    add("multi-extent VMDK (twoGbMaxExtentSparse)", f("split.vmdk"), 400, "UNSAFE_DISK_IMAGE");
    // The same inside OVAs, and OVA tricks.
    add("OVA with a backing-file qcow2", await ova("ova-backing", ["backing-abs.qcow2"], work), 400, "UNSAFE_DISK_IMAGE");
    add("OVA with a FLAT-extent VMDK", await ova("ova-flat", ["flat.vmdk"], work), 400, "UNSAFE_DISK_IMAGE");
    const linkDir = await mkdtemp(join(tmpdir(), "imagesmith-hostile-link-"));
    await run("ln", ["-s", secret, join(linkDir, "disk.vmdk")]);
    add("OVA whose disk is a symlink to a host file", await ova("ova-symlink", ["disk.vmdk"], linkDir), 400, "INVALID_DISK_IMAGE");
    const dotDir = await mkdtemp(join(tmpdir(), "imagesmith-hostile-dot-"));
    await writeFile(join(dotDir, "vm.ovf"), "<Envelope/>");
    await run("tar", ["-cf", f("ova-traversal.ova"), "-C", dotDir, "--transform", "s,^vm.ovf$,../../vm.ovf,", "vm.ovf"]);
    add("OVA with ../ member names and no disk", f("ova-traversal.ova"), 400, "INVALID_DISK_IMAGE");
    // Sizes.
    await qemuImg("create", "-q", "-f", "qcow2", f("huge.qcow2"), "8T");
    add("qcow2 of 8 TiB virtual size", f("huge.qcow2"), 400, "DISK_TOO_LARGE");
    await rm(linkDir, { recursive: true, force: true });
    await rm(dotDir, { recursive: true, force: true });
  });

  after(async () => {
    await t.close();
    await removeDir(t.dataDir);
    await removeDir(work);
  });

  it("refuses every attack with its stable code and a message that names no host path", async () => {
    for (const a of attacks) {
      const err = await t.client.importImage(a.file, { name: `attack-${attacks.indexOf(a)}`, osType: "linux" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApiError, `${a.name}: refused`);
      assert.deepEqual([err.status, err.code], [a.status, a.code], `${a.name}: ${err.message}`);
      assert.doesNotMatch(err.message, /\/(etc|tmp|var|root|home)\//, `${a.name}: no host path in "${err.message}"`);
      assert.ok(!err.message.includes(t.dataDir) && !err.message.includes(work), `${a.name}: no data dir or upload path`);
      process.stdout.write(`# ${a.name}: ${err.status} ${err.code}: ${err.message}\n`);
    }
  });

  it("leaves no image record, no snapshot, no manifest and no temporary file", async () => {
    assert.deepEqual(await t.client.listImages({}), []);
    assert.deepEqual(await t.client.listImages({ state: "failed" }), []);
    assert.deepEqual(await t.client.listSnapshots(), []);
    assert.deepEqual(await readdir(join(t.dataDir, "tmp")), []);
    const store = await readdir(join(t.dataDir, "store"), { recursive: true }).catch(() => [] as string[]);
    assert.deepEqual(store.filter((f) => !/^(chunks|manifests)$/.test(f)), []);
  });

  it("lets no byte of a host file reach the data dir", async () => {
    const { stdout } = await run("grep", ["-r", "-a", "-l", marker, t.dataDir]).catch((e: { code?: number; stdout?: string }) => {
      if (e.code === 1) return { stdout: "" };
      throw e;
    });
    assert.equal(stdout, "");
  });

  it("refuses a compressed bomb that the host cannot hold, with 507, before expanding it", async () => {
    // A 1 GiB disk of a repeated non-zero pattern compresses to a few MB; its data dir holds 300 MiB.
    const bombDir = await mkdtemp(join(tmpdir(), "imagesmith-bomb-"));
    const raw = join(work, "bomb.raw");
    await run("bash", ["-c", `yes imagesmith-bomb | head -c 1073741824 > '${raw}'`]);
    await qemuImg("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", raw, join(work, "bomb.qcow2"));
    await rm(raw);
    await run("mount", ["-t", "tmpfs", "-o", "size=300m,mode=0700", "tmpfs", bombDir]);
    let small: TestDaemon | undefined;
    try {
      small = await startTestDaemon(bombDir);
      const err = await small.client.importImage(join(work, "bomb.qcow2"), { name: "bomb", osType: "linux" }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.deepEqual([err.status, err.code], [507, "INSUFFICIENT_STORAGE"], err.message);
      assert.match(err.message, /needs 1024 MiB/);
      assert.deepEqual(await readdir(join(bombDir, "tmp")), []);
      assert.deepEqual(await small.client.listImages({ state: "failed" }), []);
    } finally {
      await small?.close();
      await run("umount", [bombDir]);
      await rm(bombDir, { recursive: true, force: true });
    }
  });

  it("takes a JSON or text body on the import route as 415, reading nothing", async () => {
    for (const type of ["application/json", "text/plain", ""]) {
      const res = await fetch(`${t.daemon.url}/v1/images/import?name=x&osType=linux`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.token}`, ...(type ? { "content-type": type } : {}) },
        body: type === "application/json" ? '{"disk":"x"}' : "x",
      });
      assert.equal(res.status, 415, type);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert.deepEqual(await readdir(join(t.dataDir, "tmp")), []);
  });

  it("still imports a good disk of each format after all that", async () => {
    const good = join(work, "good.raw");
    const sector = Buffer.alloc(4 * 1024 * 1024, 7);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    await writeFile(good, sector);
    const formats = [["qcow2", []], ["vmdk", ["-o", "subformat=streamOptimized"]], ["vmdk", ["-o", "subformat=monolithicSparse"]], ["vpc", []], ["vpc", ["-o", "subformat=fixed"]], ["vhdx", []], ["vdi", []]] as const;
    for (const [n, [fmt, opts]] of formats.entries()) {
      const file = join(work, `good-${n}.${fmt}`);
      await qemuImg("convert", "-q", "-f", "raw", "-O", fmt, ...opts, good, file);
      const { operation } = await t.client.importImage(file, { name: `good-${n}-${fmt}`, osType: "linux" });
      assert.equal((await t.client.waitOperation(operation.id)).state, "succeeded", fmt);
    }
  });
});
