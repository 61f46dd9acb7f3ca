import { Type } from "typebox";
import type { Api } from "../server.ts";
import { AccessKeyCreated, AccessKeysList, IdParams } from "../schemas.ts";

export function accessKeyRoutes(api: Api): void {
  const { app, services } = api;
  const tags = ["access-keys"];
  app.post("/v1/access-keys", {
    schema: { summary: "Create an access key for the EC2 endpoint (SigV4); its secret is returned once", tags, response: { 201: AccessKeyCreated } },
    handler: async (_req, reply) => {
      const { accessKey, secretAccessKey } = services.accessKeys.create();
      return reply.status(201).send({ accessKeyId: accessKey.accessKeyId, secretAccessKey, createdAt: accessKey.createdAt });
    },
  });
  app.get("/v1/access-keys", {
    schema: { summary: "List access keys (never their secrets)", tags, response: { 200: AccessKeysList } },
    handler: async () => ({ accessKeys: services.accessKeys.list() }),
  });
  app.delete("/v1/access-keys/:id", {
    schema: { summary: "Delete an access key; its secret is gone for good", tags, params: IdParams, response: { 204: Type.Null({ description: "deleted" }) } },
    handler: async (req, reply) => {
      services.accessKeys.delete(req.params.id);
      return reply.status(204).send(null);
    },
  });
}
