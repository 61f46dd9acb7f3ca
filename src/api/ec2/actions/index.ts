import type { Ec2Handler } from "../context.ts";
import { imageActions } from "./images.ts";
import { instanceActions } from "./instances.ts";
import { keyAndTagActions } from "./keys-tags.ts";
import { regionActions } from "./regions.ts";
import { storageActions } from "./storage.ts";

/** Every action the endpoint serves; any other answers UnsupportedOperation. */
export const actions: Record<string, Ec2Handler> = {
  ...imageActions,
  ...instanceActions,
  ...storageActions,
  ...keyAndTagActions,
  ...regionActions,
};
