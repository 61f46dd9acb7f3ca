import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Services } from "../services/services.ts";
import { AppError, errorBody } from "../core/errors.ts";
import { authenticate } from "./auth.ts";
import { armBodyDeadline, clearBodyDeadline, limits } from "./deadlines.ts";
import { clientErrorHandler, errorHandler, notFoundHandler, toAppError } from "./errors.ts";
import { accessKeyRoutes } from "./routes/access-keys.ts";
import { imageRoutes } from "./routes/images.ts";
import { instanceRoutes } from "./routes/instances.ts";
import { keyPairRoutes } from "./routes/key-pairs.ts";
import { operationRoutes } from "./routes/operations.ts";
import { storageRoutes } from "./routes/storage.ts";
import { tagRoutes } from "./routes/tags.ts";
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
/** Routes whose body is a stream of any length: an idle timeout, not a deadline. */
const uploadRoutes = new Set(["/v1/images/import"]);

export async function buildServer(options: {
  services: Services;
  dataDir: string;
  logger: FastifyBaseLogger | boolean;
}): Promise<App> {
  const app = Fastify({
    loggerInstance: typeof options.logger === "object" ? options.logger : undefined,
    logger: typeof options.logger === "boolean" ? options.logger : undefined,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true } },
    // A socket that sends and receives nothing for this long is closed (uploads included).
    connectionTimeout: limits.idleMs,
    keepAliveTimeout: limits.keepAliveMs,
    bodyLimit: limits.jsonBodyBytes,
    clientErrorHandler,
    // Errors the router raises before any hook (a malformed URL, a too long parameter):
    // unauthenticated callers still learn nothing but 401.
    frameworkErrors: (err, req, reply) => {
      const denied = authFailure(req);
      const app: AppError = denied ?? toAppError(err);
      if (denied) void reply.header("connection", "close");
      void (reply as FastifyReply).status(app.status).send(errorBody(app));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.headersTimeout = limits.headersMs;
  app.server.requestTimeout = 0; // uploads may take hours; other bodies have their own deadline
  const authFailure = (req: Pick<FastifyRequest, "url" | "headers">): AppError | undefined => {
    if (publicRoutes.has(req.url.split("?")[0] ?? "")) return undefined;
    try {
      authenticate(options.services.ctx.catalog, req);
      return undefined;
    } catch (err) {
      return toAppError(err);
    }
  };

  await app.register(swagger, {
    openapi: {
      info: { title: "imagesmith", version: "1", description: "Custom images from instances on your own QEMU hosts" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // JSON only, and disk uploads as raw streams (the route writes them to disk itself).
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
  // Authentication comes first, before any body is read. A refused caller gets
  // 401 and its connection is closed once the answer is out, whatever it still sends.
  app.addHook("onRequest", async (req, reply) => {
    const denied = authFailure(req);
    if (denied) {
      req.raw.resume(); // read and drop what arrives, so the close is clean
      return reply.status(denied.status).header("connection", "close").send(errorBody(denied));
    }
    if (!uploadRoutes.has(req.url.split("?")[0] ?? "")) armBodyDeadline(req.raw);
  });
  app.addHook("preValidation", async (req) => clearBodyDeadline(req.raw));
  // Ajv coerces "1e999" to Infinity and then skips its range checks on it.
  app.addHook("preHandler", async (req) => {
    for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
      if (typeof v === "number" && !Number.isFinite(v)) throw new AppError("VALIDATION_FAILED", 400, `Invalid querystring.${k}: must be a finite number`);
    }
  });
  app.addHook("onResponse", async (req) => clearBodyDeadline(req.raw));

  app.get("/v1/health", {
    schema: { summary: "Liveness; needs no token", tags: ["system"], security: [], response: { 200: Health } },
    handler: async () => ({ status: "ok" as const, accelerator: options.services.ctx.hypervisor.accelerator }),
  });
  app.get("/v1/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const api: Api = { app, services: options.services, dataDir: options.dataDir };
  keyPairRoutes(api);
  accessKeyRoutes(api);
  imageRoutes(api);
  instanceRoutes(api);
  operationRoutes(api);
  storageRoutes(api);
  tagRoutes(api);
  return app;
}
