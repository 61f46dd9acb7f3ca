// One error type with a stable code and an HTTP status; the API maps it to
// { error: { code, message } }. Anything else is a bug and becomes a 500.
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (code: string, message: string) => new AppError(code, 400, message);
export const unauthorized = (message: string) => new AppError("UNAUTHORIZED", 401, message);
export const notFound = (code: string, message: string) => new AppError(code, 404, message);
export const conflict = (code: string, message: string) => new AppError(code, 409, message);
export const gone = (code: string, message: string) => new AppError(code, 410, message);
export const payloadTooLarge = (code: string, message: string) => new AppError(code, 413, message);
export const unsupportedMediaType = (code: string, message: string) => new AppError(code, 415, message);
/** The host has no room for the work; nothing was written. */
export const insufficientStorage = (code: string, message: string) => new AppError(code, 507, message);
export const unavailable = (code: string, message: string) => new AppError(code, 503, message);

export function errorBody(err: AppError): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: err.message } };
}
