import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Type } from "typebox";
import { badRequest, unsupportedMediaType } from "../../core/errors.ts";
import { maxUploadBytes } from "../../services/images.ts";
import { newId } from "../../core/ids.ts";
import { paths } from "../../services/context.ts";
import type { Api } from "../server.ts";
import { writeSparse } from "../../adapters/fs/sparse-write.ts";
import { IdParams, Image, ImageCopyPost, ImageDeregistered, ImageDeregisterPost, ImageExportPost, ImageImported, ImagePreflightPost, ImagesImportQuery, ImagesListQuery, ImagesPost, ImagesRegisterPost, Operation, tagFilter } from "../schemas.ts";

/** Streams the request body to a sparse file in the data dir's tmp folder. */
async function receiveUpload(dataDir: string, body: Readable, maxBytes: number): Promise<string> {
  const dir = paths.uploads(dataDir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `upload-${newId("operation")}`);
  try {
    if ((await writeSparse(body, file, maxBytes)) === 0) throw badRequest("EMPTY_UPLOAD", "The request body must hold the disk file");
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return file;
}

export function imageRoutes(api: Api): void {
  const { app, services, dataDir } = api;
  app.post("/v1/images/import", {
    schema: {
      summary: "Import a disk file (raw, qcow2, VHD, VHDX, VMDK, VDI, OVA) as an image; the body is the file",
      tags: ["images"],
      querystring: ImagesImportQuery,
      consumes: ["application/octet-stream"],
      response: { 202: ImageImported },
    },
    // The body is the disk itself: anything else is refused before a byte of it is read.
    onRequest: async (req) => {
      if (!/^application\/octet-stream\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
        throw unsupportedMediaType("UNSUPPORTED_MEDIA_TYPE", "An import's body is the disk file itself: send it as Content-Type: application/octet-stream");
      }
    },
    handler: async (req, reply) => {
      const file = await receiveUpload(dataDir, req.body as Readable, maxUploadBytes(services.ctx.settings.maxVolumeSize));
      const q = req.query;
      const result = await services.images.import({ ...q, file });
      return reply.status(202).send(result);
    },
  });
  app.get("/v1/images", {
    schema: { summary: "List images (deregistered ones only with state=deregistered)", tags: ["images"], querystring: ImagesListQuery, response: { 200: Type.Object({ images: Type.Array(Image) }) } },
    handler: async (req) => {
      const { tag, ...rest } = req.query;
      return { images: services.images.list({ ...rest, tags: tagFilter(tag) }) };
    },
  });
  app.post("/v1/images", {
    schema: {
      summary: "Create an image from an instance (CreateImage); pending at once, available when its operation ends",
      tags: ["images"],
      body: ImagesPost,
      response: { 202: ImageImported },
    },
    handler: async (req, reply) => reply.status(202).send(services.imageCapture.create(req.body)),
  });
  app.post("/v1/images/register", {
    schema: {
      summary: "Register an image whose root disk is an existing snapshot (EC2 RegisterImage); osState must be said",
      tags: ["images"],
      body: ImagesRegisterPost,
      response: { 201: Image },
    },
    handler: async (req, reply) => reply.status(201).send(services.images.register(req.body)),
  });
  app.post("/v1/images/:id/copy", {
    schema: {
      summary: "Copy an available image under a new name (EC2 CopyImage): available at once, on the same snapshots, so it costs no storage",
      tags: ["images"],
      params: IdParams,
      body: ImageCopyPost,
      response: { 201: Image },
    },
    handler: async (req, reply) => reply.status(201).send(services.images.copy(req.params.id, req.body)),
  });
  app.post("/v1/images/:id/deregister", {
    schema: {
      summary: "Deregister an image, optionally deleting the snapshots nothing else uses",
      tags: ["images"],
      params: IdParams,
      body: ImageDeregisterPost,
      response: { 200: ImageDeregistered },
    },
    handler: async (req) => services.images.deregister(req.params.id, req.body.deleteSnapshots === true),
  });
  app.post("/v1/images/:id/preflight", {
    schema: {
      summary: "Sysprep preflight, offline: of a Windows image (ami-…), or of a stopped instance's boot disk (i-…), which fix may change; the operation's result lists the findings",
      tags: ["images"],
      params: IdParams,
      body: ImagePreflightPost,
      response: { 202: Operation },
    },
    handler: async (req, reply) => reply.status(202).send(services.windowsImages.preflight(req.params.id, { fix: req.body.fix === true })),
  });
  app.post("/v1/images/:id/export", {
    schema: {
      summary: "Export an image's root disk (raw, qcow2, fixed VHD, streamOptimized VMDK, VDI); download it from the operation",
      tags: ["images"],
      params: IdParams,
      body: ImageExportPost,
      response: { 202: Operation },
    },
    handler: async (req, reply) => reply.status(202).send(services.images.export(req.params.id, req.body.format)),
  });
  app.get("/v1/images/:id", {
    schema: { summary: "Show an image", tags: ["images"], params: IdParams, response: { 200: Image } },
    handler: async (req) => services.images.get(req.params.id),
  });
}
