import assert from "node:assert/strict";
import { test } from "node:test";
import { deviceNames, diskOrder, sameDevice } from "./devices.ts";
import type { VolumeId } from "./ids.ts";

test("the boot volume is the root device, data volumes follow by creation, then id", () => {
  const vol = (id: string, kind: "boot" | "data", createdAt: string) => ({ id: id as VolumeId, kind, createdAt });
  const vols = [
    vol("vol-c", "data", "2026-01-02T00:00:00.000Z"),
    vol("vol-b", "data", "2026-01-01T00:00:00.000Z"),
    vol("vol-a", "boot", "2026-01-03T00:00:00.000Z"),
    vol("vol-d", "data", "2026-01-01T00:00:00.000Z"),
  ];
  assert.deepEqual(diskOrder(vols).map((v) => v.id), ["vol-a", "vol-b", "vol-d", "vol-c"]);
  assert.deepEqual([...deviceNames("/dev/vda", vols)], [["vol-a", "/dev/vda"], ["vol-b", "/dev/vdb"], ["vol-d", "/dev/vdc"], ["vol-c", "/dev/vdd"]]);
  assert.ok(sameDevice("/dev/xvdb", "/dev/vdb") && sameDevice("/dev/sdb", "/dev/vdb") && !sameDevice("/dev/sdc", "/dev/vdb"));
});
