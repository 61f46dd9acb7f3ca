import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { publicEncrypt, constants } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { XMLParser } from "fast-xml-parser";
import sshpk from "sshpk";
import type { Image, Instance } from "../src/client/client.ts";
import { removeDir, sh, startTestDaemon, waitFor, type TestDaemon } from "./helpers.ts";
import { windowsDisks } from "./windows-disks.ts";

const exec = promisify(execFile);
const awsCli = "/usr/bin/aws";
const guestfs = { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" };

/** What a guest sends from inside its VM: QEMU hands each connection to the instance's own socket. */
function guestRequest(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body === undefined ? {} : { "content-type": "text/plain", "content-length": Buffer.byteLength(body) } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Windows offline, end to end on synthetic Windows Server disks (test/windows-disks.ts):
 * inspection on import, the preflight, a generalized capture that writes the RDP lock,
 * and a launch with its answer file, config-2 drive and password channel. No Windows
 * boots here: the VMs run SeaBIOS on a disk with no boot code, which is all the
 * delivery and the channel need.
 */
describe("Windows images, offline", { timeout: 1_800_000 }, () => {
  let d: TestDaemon;
  let work: string;
  let disks: Awaited<ReturnType<typeof windowsDisks>>;
  let creds: { accessKeyId: string; secretAccessKey: string };
  let keyFile: string;
  let specialized: Image;
  let source: Instance;
  let generalized: Image;

  const cliJson = async <T>(args: string[]): Promise<T> => {
    const r = await d.cli(["--output", "json", ...args]);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const imported = async (file: string, name: string, osState: "generalized" | "specialized") => {
    const { image, operation } = await d.client.importImage(file, { name, osType: "windows", osState });
    assert.equal((await d.client.waitOperation(operation.id)).state, "succeeded");
    return d.client.getImage(image.id);
  };
  const preflight = async (id: string, fix = false) => {
    const op = await d.client.waitOperation((await d.client.preflight(id, fix)).id);
    assert.equal(op.state, "succeeded", JSON.stringify(op));
    return op.result as { findings: Array<{ code: string; severity: string; where: string }>; fixed: string[] };
  };
  const socketOf = (id: string) => join(d.dataDir, "instances", id, "guest.sock");
  const aws = async (args: string[]) => {
    const { stdout } = await exec(awsCli, ["--endpoint-url", d.daemon.ec2Url ?? "", "--output", "json", "ec2", ...args], {
      env: { PATH: "/usr/bin:/bin", HOME: work, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_DEFAULT_REGION: "eu-west-3", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none"), AWS_PAGER: "", AWS_EC2_METADATA_DISABLED: "true", AWS_MAX_ATTEMPTS: "1" },
      timeout: 120_000,
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const stopped = async (id: string) => {
    await d.client.instanceAction(id, "stop");
    return d.client.waitInstances([id], "stopped", { timeoutMs: 300_000 });
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "imagesmith-windows-"));
    disks = await windowsDisks();
    d = await startTestDaemon();
    creds = await cliJson(["accesskey", "create"]);
    keyFile = join(work, "K.pem");
    assert.equal((await d.cli(["keypair", "create", "--name", "K", "--out", keyFile])).code, 0);
    specialized = await imported(disks.clean, "win-specialized", "specialized");
  });

  after(async () => {
    await d?.close();
    if (work) await removeDir(work);
  });

  it("records what inspection finds, and shows it", async () => {
    const w = specialized.windows;
    assert.ok(w, "inspection found Windows");
    assert.equal(w.productName, "Windows Server 2022 Standard");
    assert.equal(w.majorVersion, 10);
    assert.equal(w.minorVersion, 0);
    assert.equal(w.installationType, "Server");
    assert.equal(w.arch, "x86_64");
    assert.equal(w.systemRoot, "/Windows");
    assert.ok(w.hostname, "the hostname of the current control set");
    const shown = await d.cli(["image", "show", specialized.id]);
    assert.match(shown.stdout, /product: Windows Server 2022 Standard \(10\.0, Server, x86_64\)/);
    assert.match(shown.stdout, /platform: windows/);
    const described = await aws(["describe-images", "--image-ids", specialized.id]);
    assert.equal((described.Images as Array<{ Platform?: string }>)[0]?.Platform, "windows");
  });

  it("preflights an image: nothing on the clean disk, the planted cause on another", async () => {
    assert.deepEqual((await preflight(specialized.id)).findings, []);
    const cdrom = await imported(disks["cdrom-disabled"], "win-cdrom", "specialized");
    const result = await preflight(cdrom.id);
    assert.deepEqual(result.findings.map((f) => `${f.severity} ${f.code}`), ["blocking CDROM_DISABLED"]);
    const cli = await d.cli(["image", "preflight", cdrom.id]);
    assert.equal(cli.code, 3, "a blocking finding exits 3");
    assert.match(cli.stdout, /CDROM_DISABLED/);
    const fixImage = await d.cli(["image", "preflight", cdrom.id, "--fix"]);
    assert.notEqual(fixImage.code, 0);
    assert.match(fixImage.stderr, /IMAGE_IS_IMMUTABLE/);
  });

  it("captures generalized on a copy: preflight first, then the RDP lock in the SYSTEM hive", async () => {
    const [s] = await d.client.runInstances({ imageId: specialized.id, count: 1, keyName: "K", adminPassword: { mode: "keep" } });
    assert.ok(s);
    const [off] = await stopped(s.id);
    assert.ok(off);
    source = off;
    // The user ran Sysprep in the guest; this records it (Azure's az vm generalize).
    await d.client.instanceAction(source.id, "generalize");
    const created = await cliJson<Image>(["image", "create", "--instance", source.id, "--name", "win-golden"]);
    const done = await cliJson<Image>(["image", "wait", "available", created.id, "--timeout", "600"]);
    generalized = await d.client.getImage(done.id);
    assert.equal(generalized.osState, "generalized");
    assert.equal(generalized.generalizations, 1);
    assert.equal(generalized.imageType, "general");
    assert.equal(generalized.windows?.productName, "Windows Server 2022 Standard");

    // Read the lock back from the image's disk with hivex.
    const exported = await d.client.waitOperation((await d.client.exportImage(generalized.id, "qcow2")).id);
    assert.equal(exported.state, "succeeded");
    const file = join(work, "golden.qcow2");
    await d.client.download(exported.id, file);
    await exec("guestfish", ["--ro", "--format=qcow2", "-a", file, "-i", "download", "/Windows/System32/config/SYSTEM", join(work, "SYSTEM")], { env: guestfs, timeout: 300_000 });
    const current = (await sh(`hivexget ${join(work, "SYSTEM")} 'Select' Current`)).trim();
    const set = `ControlSet${current.padStart(3, "0")}`;
    assert.equal(await sh(`hivexget ${join(work, "SYSTEM")} '${set}\\Control\\Terminal Server' fDenyTSConnections`), "1");
    // The source instance's disk is untouched: no lock there.
    assert.equal((await d.client.getInstance(source.id)).state, "generalized");
  });

  it("fails a generalized capture on a blocking finding with 409 and the list; --force goes on", async () => {
    const cdrom = (await d.client.listImages()).find((i) => i.name === "win-cdrom");
    assert.ok(cdrom);
    const [s] = await d.client.runInstances({ imageId: cdrom.id, count: 1, adminPassword: { mode: "keep" } });
    assert.ok(s);
    await stopped(s.id);
    await d.client.instanceAction(s.id, "generalize");
    const refused = await cliJson<Image>(["image", "create", "--instance", s.id, "--name", "win-cdrom-golden"]);
    const waited = await d.cli(["image", "wait", "available", refused.id, "--timeout", "600"]);
    assert.notEqual(waited.code, 0);
    const failed = await d.client.getImage(refused.id).catch(() => undefined);
    assert.match(`${waited.stderr}${JSON.stringify(failed ?? {})}`, /SYSPREP_PREFLIGHT_FAILED|Sysprep would fail/);
    assert.match(`${waited.stderr}${JSON.stringify(failed ?? {})}`, /CDROM_DISABLED/);
    const forced = await cliJson<Image>(["image", "create", "--instance", s.id, "--name", "win-cdrom-forced", "--force"]);
    assert.equal((await cliJson<Image>(["image", "wait", "available", forced.id, "--timeout", "600"])).state, "available");
    await d.client.instanceAction(s.id, "terminate");
  });

  it("launches a generalized image with its answer file on a config-2 drive, and a password channel per instance", async () => {
    await assert.rejects(d.client.runInstances({ imageId: specialized.id, count: 1, windowsSettings: { timeZone: "UTC" } }), { code: "WINDOWS_SETTINGS_NOT_EXPECTED", status: 400 });
    const launched = await d.client.runInstances({ imageId: generalized.id, count: 2, keyName: "K", windowsSettings: { timeZone: "W. Europe Standard Time", registeredOrganization: "Tom & <Jerry>" } });
    const [a, b] = launched;
    assert.ok(a && b);
    await d.client.waitInstances([a.id, b.id], "running", { timeoutMs: 300_000 });

    // The config-2 drive: OpenStack metadata for cloudbase-init, and the answer file at its root.
    const iso = join(d.dataDir, "instances", a.id, "cidata.iso");
    const out = join(work, "iso-a");
    await exec("xorriso", ["-osirrox", "on", "-indev", iso, "-extract", "/", out]);
    assert.match(await sh(`xorriso -indev ${iso} -pvd_info 2>&1 | grep -i 'Volume Id'`), /config-2/);
    const meta = JSON.parse(await readFile(join(out, "openstack/latest/meta_data.json"), "utf8")) as { uuid: string; hostname: string; public_keys: Record<string, string> };
    assert.equal(meta.uuid, a.id);
    assert.match(meta.public_keys.K ?? "", /^ssh-rsa /);
    const xml = await readFile(join(out, "unattend.xml"), "utf8");
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(xml) as { unattend: { settings: Array<{ "@_pass": string }> } };
    assert.deepEqual(parsed.unattend.settings.map((s) => s["@_pass"]).sort(), ["generalize", "oobeSystem", "specialize"]);
    assert.match(xml, new RegExp(`<ComputerName>${meta.hostname}</ComputerName>`));
    assert.ok(meta.hostname.length <= 15);
    assert.match(xml, /fDenyTSConnections/);
    assert.match(xml, /<TimeZone>W\. Europe Standard Time<\/TimeZone>/, "the launch's settings");
    assert.match(xml, /<RegisteredOrganization>Tom &amp; &lt;Jerry(&gt;|>)<\/RegisteredOrganization>/);
    assert.doesNotMatch(xml, /<Password>|<Value>/, "no password in the answer file");

    // The answer file's command fetches the password once, from its own instance's endpoint.
    const first = await guestRequest(socketOf(a.id), "GET", "/imagesmith/admin-password");
    assert.equal(first.status, 200);
    const plain = first.text;
    assert.ok(plain.length >= 8);
    assert.equal((await guestRequest(socketOf(a.id), "GET", "/imagesmith/admin-password")).status, 404, "served once");
    assert.notEqual((await d.cli(["instance", "get-credentials", a.id])).code, 0, "not before the guest confirmed it");
    assert.equal((await guestRequest(socketOf(a.id), "POST", "/imagesmith/password-set", "")).status, 200);
    await waitFor("the password confirmed", async () => ((await d.client.getInstance(a.id)).passwordSetAt ? true : undefined), 30_000);
    const credentials = await cliJson<{ username: string; password: string }>(["instance", "get-credentials", a.id]);
    assert.equal(credentials.password, plain);
    assert.equal(credentials.username, "Administrator");
    const pw = await aws(["get-password-data", "--instance-id", a.id, "--priv-launch-key", keyFile]);
    assert.equal(pw.PasswordData, plain, "GetPasswordData decrypts with the key");

    // cloudbase-init's way: it sets its own password and posts it encrypted with the instance's key.
    const pub = sshpk.parseKey((await d.client.listKeyPairs()).find((k) => k.name === "K")?.publicKey ?? "", "ssh").toString("pkcs8");
    const mine = "Guest-Chosen-Passw0rd!";
    const posted = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(mine)).toString("base64");
    assert.equal((await guestRequest(socketOf(b.id), "POST", "/openstack/2013-04-04/password", "not base64!")).status, 400);
    assert.equal((await guestRequest(socketOf(b.id), "POST", "/openstack/2013-04-04/password", posted)).status, 200);
    assert.equal((await guestRequest(socketOf(b.id), "POST", "/openstack/2013-04-04/password", posted)).status, 409, "one password, as cloudbase-init expects");
    const pwB = await aws(["get-password-data", "--instance-id", b.id, "--priv-launch-key", keyFile]);
    assert.equal(pwB.PasswordData, mine, "the posted password is b's");
    const pwA = await aws(["get-password-data", "--instance-id", a.id, "--priv-launch-key", keyFile]);
    assert.equal(pwA.PasswordData, plain, "b's socket never reaches a");

    // The metadata service of one instance is that instance's.
    const metaB = JSON.parse((await guestRequest(socketOf(b.id), "GET", "/openstack/latest/meta_data.json")).text) as { uuid: string };
    assert.equal(metaB.uuid, b.id);
    for (const i of launched) await d.client.instanceAction(i.id, "terminate");
  });

  it("refuses --fix on a running instance, and fixes a stopped instance's Panther leftovers", async () => {
    const panther = await imported(disks["panther-unattend"], "win-panther", "specialized");
    assert.deepEqual((await preflight(panther.id)).findings.map((f) => f.code), ["PANTHER_UNATTEND"]);
    const [s] = await d.client.runInstances({ imageId: panther.id, count: 1, adminPassword: { mode: "keep" } });
    assert.ok(s);
    await d.client.waitInstances([s.id], "running", { timeoutMs: 300_000 });
    const running = await d.cli(["image", "preflight", s.id, "--fix"]);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /INVALID_INSTANCE_STATE/);
    await stopped(s.id);
    const fixed = await preflight(s.id, true);
    assert.deepEqual(fixed.fixed, ["/Windows/Panther/Unattend.xml"], "found whatever its case, as Windows would");
    assert.deepEqual(fixed.findings, []);
    await d.client.instanceAction(s.id, "terminate");
  });
});
