import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, errorBody } from "../core/errors.ts";

interface ValidationItem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Fastify's own error codes, as our stable codes; any other 4xx of the framework is BAD_REQUEST. */
const frameworkCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_BODY_TOO_LARGE: "BODY_TOO_LARGE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_INVALID_JSON_BODY: "INVALID_JSON",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "INVALID_CONTENT_LENGTH",
  FST_ERR_BAD_URL: "INVALID_URL",
  FST_ERR_MAX_PARAM_LENGTH: "PARAMETER_TOO_LONG",
};

/** What the framework says, without echoing the client's input back. */
const frameworkMessages: Record<string, string> = {
  UNSUPPORTED_MEDIA_TYPE: "This route does not accept that Content-Type",
  BODY_TOO_LARGE: "The request body is too large",
  INVALID_JSON: "The request body is not valid JSON",
  INVALID_CONTENT_LENGTH: "The Content-Length does not match the body",
  INVALID_URL: "The URL is not valid: it holds a malformed percent-encoding",
  PARAMETER_TOO_LONG: "A path parameter is too long",
};

/** Turns a schema failure into a stable code and a message that names the field. */
function validationError(err: FastifyError): AppError {
  const items = (err.validation ?? []) as ValidationItem[];
  const where = err.validationContext ?? "request";
  const first = items[0];
  if (first?.keyword === "additionalProperties") {
    const field = String(first.params.additionalProperty).slice(0, 64);
    return new AppError("UNKNOWN_FIELD", 400, `Unknown field ${field} in ${where}`);
  }
  const path = first?.instancePath ? `${where}${first.instancePath.replaceAll("/", ".")}`.slice(0, 128) : where;
  return new AppError("VALIDATION_FAILED", 400, `Invalid ${path}: ${first?.message ?? "does not match the schema"}`);
}

/** One mapper from any error to { error: { code, message } }. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe.validation) return validationError(fe);
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = frameworkCodes[fe.code] ?? "BAD_REQUEST";
    return new AppError(code, status, frameworkMessages[code] ?? "The request is malformed");
  }
  return new AppError("INTERNAL", 500, "Internal error; see the daemon log");
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const app = toAppError(err);
  if (app.status >= 500 && !(err instanceof AppError)) req.log.error({ err }, "request failed");
  else if (app.status >= 500) req.log.warn({ code: app.code, message: app.message }, "request refused for want of resources");
  else if (!(err instanceof AppError)) req.log.info({ err: (err as Error).message }, "request refused by the framework");
  void reply.status(app.status).send(errorBody(app));
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  const path = (req.url.split("?")[0] ?? "").slice(0, 128);
  void reply.status(404).send(errorBody(new AppError("ROUTE_NOT_FOUND", 404, `No route ${req.method} ${path}`)));
}

/**
 * Requests the HTTP parser itself refuses (a bad method, too many or too
 * large headers, a malformed request line, a request that took too long):
 * there is no request to authenticate, so the answer is our error shape and
 * the connection is closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "HEADERS_TOO_LARGE", "The request headers are too large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "REQUEST_TIMEOUT", "The request was not received in time"]
        : [400, "MALFORMED_REQUEST", "The request is not valid HTTP/1.1"];
  const body = JSON.stringify(errorBody(new AppError(code, status, message)));
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroySoon();
}
