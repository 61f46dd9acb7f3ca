import type { Instance } from "../../core/types.ts";
import type { Api } from "../server.ts";
import { IdParams, Instance as InstanceSchema, InstanceConsole, InstancesList, InstancesListQuery, InstancesPost, type InstanceWire } from "../schemas.ts";

/** The wire form: runtime internals (pid, sockets) stay inside the daemon. */
export function instanceWire(i: Instance): InstanceWire {
  const { runtime, userData: _userData, ...rest } = i;
  return { ...rest, sshPort: runtime?.sshPort || null };
}

export function instanceRoutes(api: Api): void {
  const { app, services } = api;
  const tags = ["instances"];
  app.post("/v1/instances", {
    schema: { summary: "Launch instances from an image", tags, body: InstancesPost, response: { 201: InstancesList } },
    handler: async (req, reply) => {
      const { count = 1, ...rest } = req.body;
      const instances = services.instances.run({ ...rest, count });
      return reply.status(201).send({ instances: instances.map(instanceWire) });
    },
  });
  app.get("/v1/instances", {
    schema: { summary: "List instances", tags, querystring: InstancesListQuery, response: { 200: InstancesList } },
    handler: async (req) => ({ instances: services.instances.list(req.query).map(instanceWire) }),
  });
  app.get("/v1/instances/:id", {
    schema: { summary: "Show an instance", tags, params: IdParams, response: { 200: InstanceSchema } },
    handler: async (req) => instanceWire(services.instances.get(req.params.id)),
  });
  app.get("/v1/instances/:id/console", {
    schema: { summary: "Serial console output (the last 64 KiB)", tags, params: IdParams, response: { 200: InstanceConsole } },
    handler: async (req) => ({
      instanceId: req.params.id,
      output: await services.instances.consoleOutput(req.params.id),
      timestamp: new Date().toISOString(),
    }),
  });
  const actions = {
    stop: (id: string) => services.instances.stop(id),
    start: (id: string) => services.instances.start(id),
    reboot: (id: string) => services.instances.reboot(id),
    terminate: (id: string) => services.instances.terminate(id),
  };
  for (const [action, run] of Object.entries(actions)) {
    app.post(`/v1/instances/:id/${action}`, {
      schema: { summary: `${action[0]?.toUpperCase()}${action.slice(1)} an instance`, tags, params: IdParams, response: { 202: InstanceSchema } },
      handler: async (req, reply) => reply.status(202).send(instanceWire(await run(req.params.id))),
    });
  }
}
