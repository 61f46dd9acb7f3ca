// Bounds on what users name and describe things with, in one place: the /v1
// schemas take their numbers from here, and the services check them for every
// edge (the EC2 endpoint has no schemas in front of it).
import { badRequest } from "./errors.ts";

export const inputLimits = {
  imageName: 128,
  /** Starts with a letter or digit; then letters, digits, space and ._()/@- (EC2's AMI name characters). */
  imageNamePattern: "^[A-Za-z0-9][A-Za-z0-9 ._()/@-]*$",
  description: 255,
  userDataBytes: 16384,
  launchCount: 20,
} as const;

const namePattern = new RegExp(inputLimits.imageNamePattern);

export function checkImageName(name: string): void {
  if (name.length < 1 || name.length > inputLimits.imageName || !namePattern.test(name)) {
    throw badRequest("INVALID_IMAGE_NAME", `An image name is 1 to ${inputLimits.imageName} characters: letters, digits, space and ._()/@-, starting with a letter or digit`);
  }
}

export function checkDescription(description: string | undefined): void {
  if (description !== undefined && description.length > inputLimits.description) {
    throw badRequest("INVALID_DESCRIPTION", `A description is at most ${inputLimits.description} characters`);
  }
}

export function checkLaunch(count: number, userData: string | undefined): void {
  if (!Number.isInteger(count) || count < 1 || count > inputLimits.launchCount) {
    throw badRequest("INVALID_COUNT", `One launch starts 1 to ${inputLimits.launchCount} instances`);
  }
  if (userData !== undefined && Buffer.byteLength(userData) > inputLimits.userDataBytes) {
    throw badRequest("USER_DATA_TOO_LARGE", `User data is at most ${inputLimits.userDataBytes} bytes`);
  }
}
