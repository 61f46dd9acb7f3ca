import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CreateImageCommand,
  CreateKeyPairCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  EC2Client,
  GetPasswordDataCommand,
  paginateDescribeImages,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
  waitUntilPasswordDataAvailable,
  waitUntilSnapshotCompleted,
  type EC2ClientConfig,
} from "@aws-sdk/client-ec2";
import { removeDir, sh, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

const sshOpts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";
const waitFor = { maxWaitTime: 900, minDelay: 1, maxDelay: 5 };

describe("the EC2 endpoint with @aws-sdk/client-ec2", { timeout: 1_800_000 }, () => {
  let d: TestDaemon;
  let ec2: EC2Client;
  let credentials: { accessKeyId: string; secretAccessKey: string };
  let baseImage: string;
  const client = (extra: Partial<EC2ClientConfig> = {}) => new EC2Client({ endpoint: d.daemon.ec2Url ?? "", region: "us-east-1", credentials, maxAttempts: 1, ...extra });
  const rejectsWith = (p: Promise<unknown>, name: string) => assert.rejects(p, (err: Error) => (assert.equal(err.name, name, err.message), true));

  before(async () => {
    d = await startTestDaemon();
    const { accessKeyId, secretAccessKey } = await d.client.createAccessKey();
    credentials = { accessKeyId, secretAccessKey };
    ec2 = client();
    const imported = await d.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    assert.equal((await d.client.waitOperation(imported.operation.id)).state, "succeeded");
    baseImage = imported.image.id;
  });

  after(async () => {
    ec2?.destroy();
    await d?.close();
  });

  it("runs the workflow with the SDK's waiters, and deregisters with DeleteAssociatedSnapshots", async () => {
    const key = await ec2.send(new CreateKeyPairCommand({ KeyName: "sdk-key" }));
    assert.ok(key.KeyMaterial?.includes("PRIVATE KEY"));
    const run = await ec2.send(new RunInstancesCommand({ ImageId: baseImage, MinCount: 1, MaxCount: 1, KeyName: "sdk-key", ClientToken: "sdk-source-1" }));
    const source = run.Instances?.[0]?.InstanceId ?? "";
    // The same ClientToken launches nothing more: the same reservation comes back.
    const again = await ec2.send(new RunInstancesCommand({ ImageId: baseImage, MinCount: 1, MaxCount: 1, KeyName: "sdk-key", ClientToken: "sdk-source-1" }));
    assert.equal(again.ReservationId, run.ReservationId);
    assert.deepEqual(again.Instances?.map((i) => i.InstanceId), [source]);
    await rejectsWith(ec2.send(new RunInstancesCommand({ ImageId: baseImage, MinCount: 2, MaxCount: 2, ClientToken: "sdk-source-1" })), "IdempotentParameterMismatch");
    assert.equal((await waitUntilInstanceRunning({ client: ec2, ...waitFor }, { InstanceIds: [source] })).state, "SUCCESS");

    // NoReboot capture, generalized; snapshot tags through TagSpecifications.
    const { ImageId: imageId = "" } = await ec2.send(
      new CreateImageCommand({
        InstanceId: source,
        Name: "golden-sdk",
        NoReboot: true,
        TagSpecifications: [
          { ResourceType: "image", Tags: [{ Key: "imagesmith:os-state", Value: "generalized" }] },
          { ResourceType: "snapshot", Tags: [{ Key: "made-by", Value: "sdk" }] },
        ],
      }),
    );
    assert.equal((await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.State, "pending");
    assert.equal((await waitUntilImageAvailable({ client: ec2, ...waitFor }, { ImageIds: [imageId] })).state, "SUCCESS");
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    assert.equal(image?.Tags?.find((t) => t.Key === "imagesmith:os-state")?.Value, "generalized");
    assert.ok(image?.CreationDate && /\.\d{3}Z$/.test(image.CreationDate));
    const snapshotId = image?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId ?? "";
    assert.equal((await waitUntilSnapshotCompleted({ client: ec2, ...waitFor }, { SnapshotIds: [snapshotId] })).state, "SUCCESS");
    const attr = await ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: "description" }));
    assert.equal(attr.ImageId, imageId);

    // Launch, wait for the password, decrypt it with the key pair's private key, log in.
    const clone = (await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, KeyName: "sdk-key" }))).Instances?.[0]?.InstanceId ?? "";
    assert.equal((await waitUntilPasswordDataAvailable({ client: ec2, ...waitFor }, { InstanceId: clone })).state, "SUCCESS");
    const data = await ec2.send(new GetPasswordDataCommand({ InstanceId: clone }));
    // PKCS#1 v1.5, as EC2 encrypts it; Node refuses that padding for decryption, openssl does not.
    const work = await mkdtemp(join(tmpdir(), "imagesmith-ec2-sdk-"));
    await writeFile(join(work, "key.pem"), key.KeyMaterial ?? "", { mode: 0o600 });
    await writeFile(join(work, "password.bin"), Buffer.from(data.PasswordData ?? "", "base64"));
    const password = await sh(`openssl pkeyutl -decrypt -inkey ${work}/key.pem -pkeyopt rsa_padding_mode:pkcs1 -in ${work}/password.bin`);
    await removeDir(work);
    const { sshPort } = await d.client.getInstance(clone);
    assert.equal(await sh(`sshpass -p '${password}' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${sshPort} root@127.0.0.1 echo sdk-login`), "sdk-login");

    // Force-stop the clone; stopping it again is a no-op.
    await ec2.send(new StopInstancesCommand({ InstanceIds: [clone], Force: true }));
    assert.equal((await waitUntilInstanceStopped({ client: ec2, ...waitFor }, { InstanceIds: [clone] })).state, "SUCCESS");
    const noop = await ec2.send(new StopInstancesCommand({ InstanceIds: [clone] }));
    assert.equal(noop.StoppingInstances?.[0]?.CurrentState?.Name, "stopped");

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [source, clone] }));
    assert.equal((await waitUntilInstanceTerminated({ client: ec2, ...waitFor }, { InstanceIds: [source, clone] })).state, "SUCCESS");
    await ec2.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
    await rejectsWith(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })), "InvalidSnapshot.NotFound");
    const listed = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "instance-state-name", Values: ["terminated"] }] }));
    assert.deepEqual(listed.Reservations?.flatMap((r) => r.Instances?.map((i) => i.InstanceId) ?? []).sort(), [source, clone].sort());
  });

  it("tags, volumes, snapshots and the one region", async () => {
    const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, TagSpecifications: [{ ResourceType: "volume", Tags: [{ Key: "team", Value: "a" }] }] }));
    const volumeId = vol.VolumeId ?? "";
    const snap = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId, Description: "empty" }));
    assert.equal((await waitUntilSnapshotCompleted({ client: ec2, ...waitFor }, { SnapshotIds: [snap.SnapshotId ?? ""] })).state, "SUCCESS");
    await ec2.send(new CreateTagsCommand({ Resources: [volumeId, snap.SnapshotId ?? "", baseImage], Tags: [{ Key: "stage", Value: "dev" }] }));
    const tags = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: "key", Values: ["stage"] }] }));
    assert.deepEqual(tags.Tags?.map((t) => t.ResourceId).sort(), [volumeId, snap.SnapshotId, baseImage].sort());
    const vols = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "tag:team", Values: ["a"] }] }));
    assert.deepEqual(vols.Volumes?.map((v) => v.VolumeId), [volumeId]);
    await rejectsWith(ec2.send(new CreateTagsCommand({ Resources: ["vol-00000000000000000"], Tags: [{ Key: "k", Value: "v" }] })), "InvalidVolume.NotFound");
    await rejectsWith(ec2.send(new DeleteVolumeCommand({ VolumeId: "vol-00000000000000000" })), "InvalidVolume.NotFound");
    // Filters and pages of one, through the SDK's paginator.
    const ids: string[] = [];
    for await (const page of paginateDescribeImages({ client: ec2, pageSize: 1 }, { Filters: [{ Name: "name", Values: ["t?ny", "golden-*"] }] })) {
      assert.ok((page.Images?.length ?? 0) <= 1);
      ids.push(...(page.Images ?? []).map((i) => i.ImageId ?? ""));
    }
    assert.deepEqual(ids, [baseImage]);
    const regions = await ec2.send(new DescribeRegionsCommand({}));
    assert.deepEqual(regions.Regions?.map((r) => r.RegionName), ["us-east-1"]);
    const types = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ["t3.micro"] }));
    assert.equal(types.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus, 2);
  });

  it("gives the SDK's errors: bad signature, unknown key, tampered body, expired date, unknown image, wrong state, missing parameter", async () => {
    await rejectsWith(client({ credentials: { ...credentials, secretAccessKey: `${credentials.secretAccessKey}x` } }).send(new DescribeImagesCommand({})), "AuthFailure");
    await rejectsWith(client({ credentials: { accessKeyId: "AKIAAAAAAAAAAAAAAAAA", secretAccessKey: "x".repeat(40) } }).send(new DescribeImagesCommand({})), "AuthFailure");
    // A body changed after signing (same length, so Content-Length still holds): the signature covers the raw bytes.
    const tampering = client();
    tampering.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { body?: string };
        if (typeof req.body === "string") req.body = req.body.replace("Action=DescribeImages", "Action=DescribeImagez");
        return next(args);
      },
      { step: "deserialize", name: "tamper" },
    );
    await rejectsWith(tampering.send(new DescribeImagesCommand({})), "AuthFailure");
    // A clock 20 minutes behind; one attempt, so the SDK does not correct its clock and retry.
    await rejectsWith(client({ systemClockOffset: -20 * 60_000 }).send(new DescribeImagesCommand({})), "RequestExpired");
    await rejectsWith(ec2.send(new DescribeImagesCommand({ ImageIds: ["ami-00000000000000000"] })), "InvalidAMIID.NotFound");
    await rejectsWith(ec2.send(new RunInstancesCommand({ ImageId: "ami-00000000000000000", MinCount: 1, MaxCount: 1 })), "InvalidAMIID.NotFound");
    const gone = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "instance-state-name", Values: ["terminated"] }] }));
    const [terminated] = gone.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    assert.ok(terminated, "the workflow left a terminated instance");
    await rejectsWith(ec2.send(new CreateImageCommand({ InstanceId: terminated?.InstanceId, Name: "late" })), "IncorrectInstanceState");
    await rejectsWith(ec2.send(new CreateImageCommand({ InstanceId: terminated?.InstanceId, Name: undefined })), "MissingParameter");
    await rejectsWith(ec2.send(new RunInstancesCommand({ ImageId: baseImage, MinCount: undefined, MaxCount: 1 })), "MissingParameter");
  });
});
