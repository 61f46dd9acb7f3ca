import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { removeDir, sh, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

const exec = promisify(execFile);
// Debian's AWS CLI v2; another `aws` (a pyenv shim, v1) may stand first on PATH.
const awsCli = "/usr/bin/aws";
const sshOpts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";

// The CLI's JSON, whose shape the assertions themselves check.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Forwards to the endpoint, changing one byte of each body (same length): what a meddler on the wire would do. */
async function tamperingProxy(target: string): Promise<{ url: string; server: Server }> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.from(Buffer.concat(chunks).toString("latin1").replace("Action=DescribeImages", "Action=DescribeImagez"), "latin1");
      const out = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${addr.port}/ec2/`, server };
}

describe("the EC2 endpoint with Debian's AWS CLI v2", { timeout: 1_800_000 }, () => {
  let d: TestDaemon;
  let work: string;
  let creds: Creds;
  let baseImage: string;
  const launched: string[] = [];

  /** Runs `aws ec2 …` against the daemon, as a user would with only --endpoint-url; `via` runs it under another program (faketime). */
  const aws = async (args: string[], c: Creds = creds, o: { endpoint?: string; via?: string[] } = {}) => {
    try {
      const [program = awsCli, ...rest] = [...(o.via ?? []), awsCli];
      const { stdout } = await exec(program, [...rest, "--endpoint-url", o.endpoint ?? d.daemon.ec2Url ?? "", "--output", "json", "ec2", ...args], {
        env: {
          PATH: "/usr/bin:/bin",
          HOME: work,
          AWS_ACCESS_KEY_ID: c.accessKeyId,
          AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
          AWS_DEFAULT_REGION: "eu-west-3",
          AWS_CONFIG_FILE: join(work, "none"),
          AWS_SHARED_CREDENTIALS_FILE: join(work, "none"),
          AWS_PAGER: "",
          AWS_EC2_METADATA_DISABLED: "true",
          AWS_MAX_ATTEMPTS: "1",
        },
        maxBuffer: 16 << 20,
        timeout: 1_200_000,
      });
      return { code: 0, out: stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {}, text: stdout, err: "" };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? 1, out: {}, text: x.stdout ?? "", err: x.stderr ?? "" };
    }
  };
  const ok = async (args: string[]) => {
    const r = await aws(args);
    assert.equal(r.code, 0, `aws ec2 ${args.join(" ")}: ${r.err}`);
    return r.out as Json;
  };
  const fails = async (args: string[], code: string, c?: Creds, o?: { endpoint?: string; via?: string[] }) => {
    const r = await aws(args, c, o);
    assert.notEqual(r.code, 0, `aws ec2 ${args.join(" ")} should fail`);
    assert.match(r.err, new RegExp(`\\(${code.replaceAll(".", "\\.")}\\)`), `aws ec2 ${args.join(" ")}: ${r.err}`);
  };
  const instanceState = async (id: string) => {
    const out = await ok(["describe-instances", "--instance-ids", id]);
    return out.Reservations[0].Instances[0].State.Name as string;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "imagesmith-ec2-cli-"));
    d = await startTestDaemon();
    const created = await d.cli(["--output", "json", "accesskey", "create"]);
    assert.equal(created.code, 0, created.stderr);
    creds = JSON.parse(created.stdout) as Creds;
    const imported = await d.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    assert.equal((await d.client.waitOperation(imported.operation.id)).state, "succeeded");
    baseImage = imported.image.id;
  });

  after(async () => {
    await d?.close();
    if (work) await removeDir(work);
  });

  it("runs the whole workflow: key pair, launch, capture with tags, filters and pages, launch from the image, password, deregister, terminate", async () => {
    const key = await ok(["create-key-pair", "--key-name", "cli-key"]);
    const pem = join(work, "cli-key.pem");
    await writeFile(pem, key.KeyMaterial as string, { mode: 0o600 });
    assert.equal(key.KeyName, "cli-key");

    const run = await ok(["run-instances", "--image-id", baseImage, "--count", "1", "--instance-type", "is.nano", "--key-name", "cli-key", "--tag-specifications", "ResourceType=instance,Tags=[{Key=role,Value=source}]"]);
    const source = run.Instances[0].InstanceId as string;
    launched.push(source);
    assert.match(run.ReservationId as string, /^r-[0-9a-f]{17}$/);
    // Visible to Describe* the moment RunInstances returns.
    assert.ok(["pending", "running"].includes(await instanceState(source)));
    assert.equal((await aws(["wait", "instance-running", "--instance-ids", source])).code, 0);
    assert.equal((await aws(["wait", "instance-status-ok", "--instance-ids", source])).code, 0);
    // Starting a running instance succeeds and changes nothing, as in AWS.
    const again = await ok(["start-instances", "--instance-ids", source]);
    assert.equal(again.StartingInstances[0].CurrentState.Name, "running");

    // Capture with reboot: the instance never shows stopping, which would fail instance-running at once.
    const image = await ok([
      "create-image", "--instance-id", source, "--name", "golden-cli", "--description", "from the CLI",
      "--tag-specifications", "ResourceType=image,Tags=[{Key=imagesmith:os-state,Value=generalized},{Key=env,Value=test}]", "ResourceType=snapshot,Tags=[{Key=env,Value=test}]",
    ]);
    const imageId = image.ImageId as string;
    const pending = await ok(["describe-images", "--image-ids", imageId]);
    assert.equal(pending.Images[0].State, "pending");
    const seen = new Set<string>();
    let capturing = true;
    const watch = (async () => {
      while (capturing) {
        seen.add(await instanceState(source));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const waited = await aws(["wait", "image-available", "--image-ids", imageId]);
    capturing = false;
    await watch;
    assert.equal(waited.code, 0, waited.err);
    assert.ok(!seen.has("stopping"), `states seen during the capture: ${[...seen].join(", ")}`);
    assert.equal((await aws(["wait", "instance-running", "--instance-ids", source])).code, 0);

    const described = (await ok(["describe-images", "--image-ids", imageId])).Images[0];
    assert.equal(described.Name, "golden-cli");
    assert.equal(described.Description, "from the CLI");
    const tags = Object.fromEntries((described.Tags as { Key: string; Value: string }[]).map((t) => [t.Key, t.Value]));
    assert.deepEqual(tags, { env: "test", "imagesmith:os-state": "generalized" });
    const snapshotId = described.BlockDeviceMappings[0].Ebs.SnapshotId as string;
    const snap = (await ok(["describe-snapshots", "--snapshot-ids", snapshotId])).Snapshots[0];
    assert.equal(snap.State, "completed");
    assert.deepEqual(snap.Tags, [{ Key: "env", Value: "test" }]);
    assert.equal((await aws(["wait", "snapshot-completed", "--snapshot-ids", snapshotId])).code, 0);

    // Filters: name wildcards (case-sensitive), tags, values OR'ed, filters AND'ed; pages of one.
    const byName = await ok(["describe-images", "--filters", "Name=name,Values=golden-*", "Name=tag:env,Values=test,prod"]);
    assert.deepEqual(byName.Images.map((i: { ImageId: string }) => i.ImageId), [imageId]);
    assert.deepEqual((await ok(["describe-images", "--filters", "Name=name,Values=GOLDEN-*"])).Images, []);
    assert.deepEqual((await ok(["describe-images", "--filters", "Name=name,Values=golden-cl?"])).Images.length, 1);
    assert.deepEqual((await ok(["describe-images", "--filters", "Name=name,Values=golden-*", "Name=tag:env,Values=prod"])).Images, []);
    const all = await ok(["describe-images", "--page-size", "1"]);
    assert.deepEqual(all.Images.map((i: { ImageId: string }) => i.ImageId).sort(), [baseImage, imageId].sort(), "--page-size 1 follows nextToken through every page");
    // The platform's os-state tag filters like any tag: both images here are generalized (the import's default).
    const generalized = await ok(["describe-images", "--filters", "Name=tag:imagesmith:os-state,Values=generalized"]);
    assert.deepEqual(generalized.Images.map((i: { ImageId: string }) => i.ImageId).sort(), [baseImage, imageId].sort());
    assert.deepEqual((await ok(["describe-images", "--filters", "Name=tag:imagesmith:os-state,Values=specialized"])).Images, []);

    // A launch from the generalized image: a random password, encrypted with the key pair, then a login.
    const copy = await ok(["run-instances", "--image-id", imageId, "--count", "1", "--key-name", "cli-key"]);
    const clone = copy.Instances[0].InstanceId as string;
    launched.push(clone);
    assert.equal((await aws(["wait", "password-data-available", "--instance-id", clone])).code, 0);
    const pw = await ok(["get-password-data", "--instance-id", clone, "--priv-launch-key", pem]);
    const password = pw.PasswordData as string;
    assert.match(password, /^[A-Za-z0-9_-]{20,}$/);
    const { sshPort } = await d.client.getInstance(clone);
    assert.equal(await sh(`sshpass -p '${password}' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${sshPort} root@127.0.0.1 echo logged-in`), "logged-in");

    const console = await ok(["get-console-output", "--instance-id", clone]);
    assert.match(console.Output as string, /./);

    await ok(["deregister-image", "--image-id", imageId]);
    assert.deepEqual((await ok(["describe-images", "--filters", `Name=image-id,Values=${imageId}`])).Images, []);
    // The snapshot stays: this CLI has no --delete-associated-snapshots (the SDK test covers it).
    assert.equal((await ok(["describe-snapshots", "--snapshot-ids", snapshotId])).Snapshots.length, 1);

    await ok(["terminate-instances", "--instance-ids", source, clone]);
    assert.equal((await aws(["wait", "instance-terminated", "--instance-ids", source, clone])).code, 0);
    // Terminated instances stay listed.
    assert.equal(await instanceState(source), "terminated");
    // Terminating again is a no-op, as in AWS.
    assert.equal((await ok(["terminate-instances", "--instance-ids", source])).TerminatingInstances[0].CurrentState.Name, "terminated");
  });

  it("answers bad credentials, unknown ids, wrong states and missing parameters with EC2's codes", async () => {
    // The secret with its last character changed (a secret that already ends in "x" gets "y": 1 in 64 do).
    const wrong = `${creds.secretAccessKey.slice(0, -1)}${creds.secretAccessKey.endsWith("x") ? "y" : "x"}`;
    await fails(["describe-images"], "AuthFailure", { ...creds, secretAccessKey: wrong });
    await fails(["describe-images"], "AuthFailure", { accessKeyId: "AKIAAAAAAAAAAAAAAAAA", secretAccessKey: creds.secretAccessKey });
    // A clock 20 minutes behind (faketime), and a body changed on the way after signing.
    await fails(["describe-images"], "RequestExpired", undefined, { via: ["/usr/bin/faketime", "-f", "-20m"] });
    const proxy = await tamperingProxy(d.daemon.ec2Url ?? "");
    try {
      await fails(["describe-images"], "AuthFailure", undefined, { endpoint: proxy.url });
    } finally {
      proxy.server.close();
    }
    await fails(["describe-images", "--image-ids", "ami-00000000000000000"], "InvalidAMIID.NotFound");
    await fails(["describe-images", "--image-ids", "ami-nope"], "InvalidAMIID.Malformed");
    await fails(["describe-instances", "--instance-ids", "i-00000000000000000"], "InvalidInstanceID.NotFound");
    await fails(["run-instances", "--image-id", "ami-00000000000000000", "--count", "1"], "InvalidAMIID.NotFound");
    await fails(["run-instances", "--image-id", baseImage, "--count", "1", "--key-name", "no-such-key"], "InvalidKeyPair.NotFound");
    const [terminated] = launched;
    await fails(["reboot-instances", "--instance-ids", terminated ?? ""], "IncorrectInstanceState");
    await fails(["create-image", "--instance-id", terminated ?? "", "--name", "late"], "IncorrectInstanceState");
    await fails(["delete-key-pair"], "MissingParameter");
    await fails(["describe-images", "--filters", "Name=no-such-filter,Values=x"], "InvalidParameterValue");
    await fails(["create-image", "--instance-id", terminated ?? "", "--name", "x", "--dry-run"], "DryRunOperation");
    // An action we do not serve says so, naming it; never a silent success.
    const r = await aws(["describe-vpcs"]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /\(UnsupportedOperation\).*DescribeVpcs/);
  });
});
