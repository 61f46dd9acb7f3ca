import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Type } from "typebox";
import type { Api } from "../server.ts";
import { IdParams, Operation, Snapshot, SnapshotCreated, SnapshotsPost, Volume, VolumeAttachPost, VolumesListQuery, VolumesPost } from "../schemas.ts";

export function storageRoutes(api: Api): void {
  const { app, services } = api;
  app.post("/v1/snapshots", {
    schema: { summary: "Snapshot a volume (incremental; crash-consistent if its instance runs)", tags: ["snapshots"], body: SnapshotsPost, response: { 202: SnapshotCreated } },
    handler: async (req, reply) => reply.status(202).send(services.volumes.snapshot(req.body.volumeId, req.body)),
  });
  app.get("/v1/snapshots", {
    schema: { summary: "List snapshots", tags: ["snapshots"], response: { 200: Type.Object({ snapshots: Type.Array(Snapshot) }) } },
    handler: async () => ({ snapshots: services.snapshots.list() }),
  });
  app.get("/v1/snapshots/:id", {
    schema: { summary: "Show a snapshot", tags: ["snapshots"], params: IdParams, response: { 200: Snapshot } },
    handler: async (req) => services.snapshots.get(req.params.id),
  });
  app.delete("/v1/snapshots/:id", {
    schema: { summary: "Delete a snapshot nothing uses; its chunks go at the next gc", tags: ["snapshots"], params: IdParams },
    handler: async (req, reply) => {
      await services.snapshots.delete(req.params.id);
      return reply.status(204).send();
    },
  });

  app.post("/v1/volumes", {
    schema: { summary: "Create a data volume, empty or from a snapshot", tags: ["volumes"], body: VolumesPost, response: { 201: Volume } },
    handler: async (req, reply) => reply.status(201).send(await services.volumes.create(req.body)),
  });
  app.get("/v1/volumes", {
    schema: { summary: "List volumes", tags: ["volumes"], querystring: VolumesListQuery, response: { 200: Type.Object({ volumes: Type.Array(Volume) }) } },
    handler: async (req) => ({ volumes: services.volumes.list(req.query) }),
  });
  app.get("/v1/volumes/:id", {
    schema: { summary: "Show a volume", tags: ["volumes"], params: IdParams, response: { 200: Volume } },
    handler: async (req) => services.volumes.get(req.params.id),
  });
  app.delete("/v1/volumes/:id", {
    schema: { summary: "Delete a volume that is not attached", tags: ["volumes"], params: IdParams },
    handler: async (req, reply) => {
      await services.volumes.delete(req.params.id);
      return reply.status(204).send();
    },
  });
  app.post("/v1/volumes/:id/attach", {
    schema: { summary: "Attach a volume to a stopped instance", tags: ["volumes"], params: IdParams, body: VolumeAttachPost, response: { 200: Volume } },
    handler: async (req) => services.volumes.attach(req.params.id, req.body.instanceId),
  });
  app.post("/v1/volumes/:id/detach", {
    schema: { summary: "Detach a data volume from a stopped instance", tags: ["volumes"], params: IdParams, response: { 200: Volume } },
    handler: async (req) => services.volumes.detach(req.params.id),
  });

  app.post("/v1/storage/gc", {
    schema: { summary: "Reclaim chunks no snapshot references", tags: ["storage"], response: { 202: Operation } },
    handler: async (_req, reply) => reply.status(202).send(services.snapshots.runStorageOperation("storage-gc")),
  });
  app.post("/v1/storage/scrub", {
    schema: { summary: "Verify every referenced chunk; corruption is reported by snapshot and offset", tags: ["storage"], response: { 202: Operation } },
    handler: async (_req, reply) => reply.status(202).send(services.snapshots.runStorageOperation("storage-scrub")),
  });

  app.get("/v1/operations/:id/download", {
    schema: { summary: "Download the file an export operation wrote; it is removed once downloaded", tags: ["operations"], params: IdParams, produces: ["application/octet-stream"] },
    handler: async (req, reply) => {
      const { path: file, size } = await services.images.exportFile(req.params.id);
      const stream = createReadStream(file);
      stream.on("close", () => {
        if (stream.bytesRead === size) rm(file, { force: true }).catch((err: unknown) => req.log.warn({ err }, "removing a downloaded export failed"));
      });
      return reply.header("content-type", "application/octet-stream").header("content-length", size).send(stream);
    },
  });
}
