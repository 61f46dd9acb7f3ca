import type { Instance } from "../../core/types.ts";
import type { Api } from "../server.ts";
import {
  IdParams,
  Instance as InstanceSchema,
  InstanceConsole,
  InstanceCredentials,
  InstancePasswordData,
  InstancesList,
  InstancesListQuery,
  InstancesPost,
  tagFilter,
  type InstanceWire,
} from "../schemas.ts";

/** The wire form: runtime internals (pid, sockets) stay inside the daemon. */
export function instanceWire(i: Instance): InstanceWire {
  const { runtime, userData: _userData, adminPassword, phoneHome: _phoneHome, seeded: _seeded, ...rest } = i;
  return {
    ...rest,
    // Derived, not stored: records from before the status check have none and read as initializing.
    ready: i.statusCheck === "ok",
    statusCheck: i.statusCheck ?? "initializing",
    statusReason: i.statusReason ?? null,
    adminPasswordMode: adminPassword.mode,
    passwordSetAt: adminPassword.setAt,
    sshPort: runtime?.sshPort || null,
  };
}

export function instanceRoutes(api: Api): void {
  const { app, services } = api;
  const tags = ["instances"];
  app.post("/v1/instances", {
    schema: { summary: "Launch instances from an image", tags, body: InstancesPost, response: { 201: InstancesList } },
    handler: async (req, reply) => {
      const { count = 1, adminPassword, ...rest } = req.body;
      const instances = await services.instances.run({
        ...rest,
        count,
        adminPassword: adminPassword?.mode,
        adminPasswordPlain: adminPassword?.password !== undefined ? Buffer.from(adminPassword.password) : undefined,
      });
      return reply.status(201).send({ instances: instances.map(instanceWire) });
    },
  });
  app.get("/v1/instances", {
    schema: { summary: "List instances", tags, querystring: InstancesListQuery, response: { 200: InstancesList } },
    handler: async (req) => {
      const { tag, ...rest } = req.query;
      return { instances: services.instances.list({ ...rest, tags: tagFilter(tag) }).map(instanceWire) };
    },
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
    deallocate: (id: string) => services.instances.deallocate(id),
    generalize: (id: string) => services.instances.generalize(id),
  };
  app.get("/v1/instances/:id/password-data", {
    schema: { summary: "The generated admin password, encrypted with the key pair (EC2 GetPasswordData)", tags, params: IdParams, response: { 200: InstancePasswordData } },
    handler: async (req) => {
      const { passwordData, setAt } = await services.instances.passwordData(req.params.id);
      return { instanceId: req.params.id, passwordData, timestamp: setAt };
    },
  });
  app.get("/v1/instances/:id/credentials", {
    schema: { summary: "The default user and password made at launch from a general Windows image (OCI GetInstanceDefaultCredentials)", tags, params: IdParams, response: { 200: InstanceCredentials } },
    handler: async (req) => ({ instanceId: req.params.id, ...services.instances.credentials(req.params.id) }),
  });
  for (const [action, run] of Object.entries(actions)) {
    app.post(`/v1/instances/:id/${action}`, {
      schema: { summary: `${action[0]?.toUpperCase()}${action.slice(1)} an instance`, tags, params: IdParams, response: { 202: InstanceSchema } },
      handler: async (req, reply) => reply.status(202).send(instanceWire(await run(req.params.id))),
    });
  }
}
