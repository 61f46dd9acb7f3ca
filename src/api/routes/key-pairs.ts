import type { Api } from "../server.ts";
import { KeyPair, KeyPairCreated, KeyPairName, KeyPairsPost } from "../schemas.ts";
import { Type } from "typebox";

export function keyPairRoutes(api: Api): void {
  const { app, services } = api;
  app.post("/v1/keypairs", {
    schema: {
      summary: "Create a key pair (RSA, private key returned once) or import a public key",
      tags: ["keypairs"],
      body: KeyPairsPost,
      response: { 201: KeyPairCreated },
    },
    handler: async (req, reply) => {
      const { name, publicKey } = req.body;
      const result = publicKey ? { keyPair: services.keyPairs.import(name, publicKey) } : await services.keyPairs.create(name);
      return reply.status(201).send(result);
    },
  });
  app.get("/v1/keypairs", {
    schema: { summary: "List key pairs", tags: ["keypairs"], response: { 200: Type.Object({ keyPairs: Type.Array(KeyPair) }) } },
    handler: async () => ({ keyPairs: services.keyPairs.list() }),
  });
  app.get("/v1/keypairs/:name", {
    schema: { summary: "Show a key pair", tags: ["keypairs"], params: KeyPairName, response: { 200: KeyPair } },
    handler: async (req) => services.keyPairs.get(req.params.name),
  });
  app.delete("/v1/keypairs/:name", {
    schema: { summary: "Delete a key pair", tags: ["keypairs"], params: KeyPairName },
    handler: async (req, reply) => {
      services.keyPairs.delete(req.params.name);
      return reply.status(204).send();
    },
  });
}
