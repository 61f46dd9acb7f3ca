import { Type } from "typebox";
import type { Api } from "../server.ts";
import { IdParams, Operation, OperationWaitQuery } from "../schemas.ts";

export function operationRoutes(api: Api): void {
  const { app, services } = api;
  app.get("/v1/operations", {
    schema: { summary: "List operations", tags: ["operations"], response: { 200: Type.Object({ operations: Type.Array(Operation) }) } },
    handler: async () => ({ operations: services.operations.list() }),
  });
  app.get("/v1/operations/:id", {
    schema: {
      summary: "Show an operation; with ?wait=N, wait up to N seconds for it to end",
      tags: ["operations"],
      params: IdParams,
      querystring: OperationWaitQuery,
      response: { 200: Operation },
    },
    handler: async (req) => services.operations.wait(req.params.id, (req.query.wait ?? 0) * 1000),
  });
}
