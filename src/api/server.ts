import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Services } from "../services/services.ts";
import { authenticate } from "./auth.ts";
import { errorHandler, notFoundHandler } from "./errors.ts";
import { imageRoutes } from "./routes/images.ts";
import { instanceRoutes } from "./routes/instances.ts";
import { keyPairRoutes } from "./routes/key-pairs.ts";
import { operationRoutes } from "./routes/operations.ts";
import { storageRoutes } from "./routes/storage.ts";
import { Health } from "./schemas.ts";

export type App = FastifyInstance<
  import("node:http").Server,
  import("node:http").IncomingMessage,
  import("node:http").ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface Api {
  app: App;
  services: Services;
  dataDir: string;
}

const publicRoutes = new Set(["/v1/health"]);

export async function buildServer(options: {
  services: Services;
  dataDir: string;
  logger: FastifyBaseLogger | boolean;
}): Promise<App> {
  const app = Fastify({
    loggerInstance: typeof options.logger === "object" ? options.logger : undefined,
    logger: typeof options.logger === "boolean" ? options.logger : undefined,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      info: { title: "imagesmith", version: "1", description: "Custom images from instances on your own QEMU hosts" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Disk uploads arrive as raw streams; the route writes them to disk itself.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
  app.addHook("onRequest", async (req) => {
    if (publicRoutes.has(req.url.split("?")[0] ?? "")) return;
    authenticate(options.services.ctx.catalog, req);
  });

  app.get("/v1/health", {
    schema: { summary: "Liveness; needs no token", tags: ["system"], security: [], response: { 200: Health } },
    handler: async () => ({ status: "ok" as const, accelerator: options.services.ctx.hypervisor.accelerator }),
  });
  app.get("/v1/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const api: Api = { app, services: options.services, dataDir: options.dataDir };
  keyPairRoutes(api);
  imageRoutes(api);
  instanceRoutes(api);
  operationRoutes(api);
  storageRoutes(api);
  return app;
}
