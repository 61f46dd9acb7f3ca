import { Type } from "typebox";
import type { Api } from "../server.ts";
import { EventsList, EventsQuery, IdParams, Operation, OperationWaitQuery } from "../schemas.ts";

export function operationRoutes(api: Api): void {
  const { app, services } = api;
  app.get("/v1/events", {
    schema: {
      summary: "State changes of every resource (instances, images, snapshots, volumes, operations), oldest first; long-poll with wait",
      tags: ["events"],
      querystring: EventsQuery,
      response: { 200: EventsList },
    },
    handler: async (req) => {
      const after = req.query.after ?? 0;
      const events = await services.events.list({ afterSeq: after, resourceId: req.query.resourceId, waitMs: (req.query.wait ?? 0) * 1000 });
      return { events, next: events.length > 0 ? (events[events.length - 1]?.seq ?? after) : after };
    },
  });
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
