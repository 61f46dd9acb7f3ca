import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Services } from "../../services/services.ts";
import { armBodyDeadline, clearBodyDeadline, limits } from "../deadlines.ts";
import { actions } from "./actions/index.ts";
import { Ec2Error, toEc2Error } from "./ec2-error.ts";
import { Params } from "./params.ts";
import { readClaim, verifySignature, type SigV4Claim } from "./sigv4.ts";
import { renderError, renderResponse } from "./xml.ts";

/** An EC2 Query request body is a form: small, whatever the action (UserData is at most 16 KiB). */
const maxBodyBytes = 1024 * 1024;
export const apiVersion = "2016-11-15";

interface Signed {
  claim: SigV4Claim;
  secret: string;
}

function sendError(reply: FastifyReply, err: Ec2Error, close = err.status === 401): FastifyReply {
  if (close) void reply.header("connection", "close");
  return reply.status(err.status).header("content-type", "text/xml;charset=UTF-8").header("x-amzn-requestid", reply.request.id).send(renderError(err, reply.request.id));
}

/**
 * The EC2 Query API (2016-11-15) on its own listener, at /ec2/: form-encoded
 * POSTs signed with SigV4, XML answers. Each action maps onto the same services
 * as /v1, so no rule lives here; only EC2's names, shapes and codes do.
 */
export async function buildEc2Server(options: { services: Services; logger: FastifyBaseLogger }): Promise<FastifyInstance> {
  const { services } = options;
  const signed = new WeakMap<FastifyRequest, Signed>();
  const app = Fastify({
    loggerInstance: options.logger,
    genReqId: () => randomUUID(),
    connectionTimeout: limits.idleMs,
    keepAliveTimeout: limits.keepAliveMs,
    bodyLimit: maxBodyBytes,
    frameworkErrors: (err, _req, reply) => void sendError(reply as FastifyReply, toEc2Error(err)),
  });
  app.server.headersTimeout = limits.headersMs;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err, req, reply) => {
    const e = toEc2Error(err);
    if (e.status >= 500 && e.code === "InternalError") req.log.error({ err }, "EC2 request failed");
    return sendError(reply, e);
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, new Ec2Error("InvalidRequest", 400, "The EC2 endpoint takes signed POST requests at /ec2/")));

  // Who signs comes first: no body is read for a malformed, expired or unknown credential.
  app.addHook("onRequest", async (req, reply) => {
    try {
      const claim = readClaim(req.headers);
      const secret = services.accessKeys.secretFor(claim.accessKeyId);
      if (secret === undefined) throw new Ec2Error("AuthFailure", 401, "The AWS Access Key Id you provided does not exist in our records");
      signed.set(req, { claim, secret });
    } catch (err) {
      // Refused before its body is read: whatever it still sends is dropped, and the connection closes after the answer.
      const e = toEc2Error(err);
      if (e.status >= 500) req.log.error({ err }, "EC2 authentication failed");
      req.raw.resume();
      return sendError(reply, e, true);
    }
    armBodyDeadline(req.raw);
  });
  app.addHook("preHandler", async (req) => clearBodyDeadline(req.raw));
  app.addHook("onResponse", async (req) => clearBodyDeadline(req.raw));

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const auth = signed.get(req);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!auth) throw new Ec2Error("AuthFailure", 401, "The request is not signed");
    await verifySignature(auth.claim, auth.secret, { method: req.method, path: req.url, headers: req.headers, body });
    services.accessKeys.markUsed(auth.claim.accessKeyId);
    const params = Params.parse(body.toString("utf8"));
    const action = params.required("Action");
    const version = params.required("Version");
    if (version !== apiVersion) throw new Ec2Error("InvalidParameterValue", 400, `Version ${version.slice(0, 32)} is not served; this endpoint speaks EC2 ${apiVersion}`);
    const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!run) throw new Ec2Error("UnsupportedOperation", 400, `The action ${action.slice(0, 64)} is not supported by imagesmith's EC2 endpoint (docs/ec2.md lists those that are)`);
    const result = await run(params, { services, region: auth.claim.region });
    if (!params.finished) throw new Error(`EC2 action ${action} did not check its parameters`);
    req.log.info({ action, accessKeyId: auth.claim.accessKeyId }, "EC2 action");
    return reply.header("content-type", "text/xml;charset=UTF-8").header("x-amzn-requestid", req.id).send(renderResponse(action, req.id, result));
  };
  app.post("/ec2/", handle);
  app.post("/ec2", handle);
  return app;
}
