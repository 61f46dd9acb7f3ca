import { AppError } from "../../core/errors.ts";
import { idPrefixes, isId, type IdKind } from "../../core/ids.ts";

/** An error in EC2's own terms: its code, and the HTTP status EC2 answers it with. */
export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "Ec2Error";
  }
}

export const invalidParameter = (message: string) => new Ec2Error("InvalidParameterValue", 400, message);
export const missingParameter = (name: string) => new Ec2Error("MissingParameter", 400, `The request must contain the parameter ${name}`);

/** A check of one kind of id, with EC2's Malformed code for it; it returns the id. */
export const idChecker = (kind: IdKind, code: string) => (id: string) => {
  if (!isId(kind, id)) throw new Ec2Error(code, 400, `Invalid id: "${id.slice(0, 64)}" (expecting "${idPrefixes[kind]}-" and 17 hexadecimal digits)`);
  return id;
};

/** Our stable codes, as the EC2 codes clients look for. Any other 4xx becomes InvalidParameterValue. */
const ec2Codes: Record<string, string> = {
  INSTANCE_NOT_FOUND: "InvalidInstanceID.NotFound",
  IMAGE_NOT_FOUND: "InvalidAMIID.NotFound",
  IMAGE_PENDING: "InvalidAMIID.Unavailable",
  IMAGE_NOT_AVAILABLE: "InvalidAMIID.Unavailable",
  IMAGE_DEREGISTERED: "InvalidAMIID.Unavailable",
  IMAGE_NAME_EXISTS: "InvalidAMIName.Duplicate",
  INVALID_IMAGE_NAME: "InvalidAMIName.Malformed",
  INVALID_INSTANCE_STATE: "IncorrectInstanceState",
  KEYPAIR_NOT_FOUND: "InvalidKeyPair.NotFound",
  KEYPAIR_EXISTS: "InvalidKeyPair.Duplicate",
  INVALID_PUBLIC_KEY: "InvalidKey.Format",
  UNSUPPORTED_KEY_TYPE: "InvalidKey.Format",
  SNAPSHOT_NOT_FOUND: "InvalidSnapshot.NotFound",
  SNAPSHOT_IN_USE: "InvalidSnapshot.InUse",
  SNAPSHOT_PENDING: "IncorrectState",
  SNAPSHOT_NOT_COMPLETED: "IncorrectState",
  VOLUME_NOT_FOUND: "InvalidVolume.NotFound",
  VOLUME_IN_USE: "VolumeInUse",
  VOLUME_NOT_AVAILABLE: "IncorrectState",
  VOLUME_NOT_ATTACHED: "IncorrectState",
  UNKNOWN_INSTANCE_TYPE: "InvalidParameterValue",
  IDEMPOTENT_PARAMETER_MISMATCH: "IdempotentParameterMismatch",
  INSUFFICIENT_CAPACITY: "InsufficientInstanceCapacity",
  INVALID_RESOURCE_ID: "InvalidID",
  TAG_LIMIT_EXCEEDED: "TagLimitExceeded",
};

/**
 * Any error as an EC2 error. Client errors answer 400 (401 for AuthFailure)
 * and never 5xx, which both AWS clients retry; a 5xx is left only for a bug
 * or a host out of room.
 */
export function toEc2Error(err: unknown): Ec2Error {
  if (err instanceof Ec2Error) return err;
  if (err instanceof AppError) {
    if (err.status === 401) return new Ec2Error("AuthFailure", 401, err.message);
    if (err.status >= 500) return new Ec2Error(err.code === "INSUFFICIENT_STORAGE" ? "InsufficientStorage" : "Unavailable", 503, err.message);
    const code = ec2Codes[err.code] ?? "InvalidParameterValue";
    // Our own code stays in the message, so that nothing is lost in the mapping.
    return new Ec2Error(code, 400, `${err.message} (${err.code})`);
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 413) return new Ec2Error("RequestEntityTooLarge", 400, "The request body is too large");
  if (status !== undefined && status >= 400 && status < 500) return new Ec2Error("InvalidRequest", 400, "The request is malformed");
  return new Ec2Error("InternalError", 500, "An internal error has occurred; see the daemon log");
}
