import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, errorBody } from "../core/errors.ts";

interface ValidationItem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Turns a schema failure into a stable code and a message that names the field. */
function validationError(err: FastifyError): AppError {
  const items = (err.validation ?? []) as ValidationItem[];
  const where = err.validationContext ?? "request";
  const first = items[0];
  if (first?.keyword === "additionalProperties") {
    const field = String(first.params.additionalProperty);
    return new AppError("UNKNOWN_FIELD", 400, `Unknown field ${field} in ${where}`);
  }
  const path = first?.instancePath ? `${where}${first.instancePath.replaceAll("/", ".")}` : where;
  return new AppError("VALIDATION_FAILED", 400, `Invalid ${path}: ${first?.message ?? err.message}`);
}

/** One mapper from any error to { error: { code, message } }. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe.validation) return validationError(fe);
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (fe.code ?? "BAD_REQUEST").replace(/^FST_ERR_/, "");
    return new AppError(code, status, fe.message);
  }
  return new AppError("INTERNAL", 500, "Internal error; see the daemon log");
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const app = toAppError(err);
  if (app.status >= 500) req.log.error({ err }, "request failed");
  void reply.status(app.status).send(errorBody(app));
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send(errorBody(new AppError("ROUTE_NOT_FOUND", 404, `No route ${req.method} ${req.url.split("?")[0]}`)));
}
