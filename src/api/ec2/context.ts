import type { Services } from "../../services/services.ts";
import type { Params } from "./params.ts";
import type { XmlObject } from "./xml.ts";

/** The owner of everything here: one account per daemon, as EC2 shows owners. */
export const accountId = "000000000000";

/** What an action sees: the services, and the region the client signed for (any is accepted). */
export interface Ec2Context {
  services: Services;
  region: string;
}

/** Reads its parameters (ending with params.done()), acts through the services, answers EC2's shape. */
export type Ec2Handler = (params: Params, ctx: Ec2Context) => XmlObject | Promise<XmlObject>;

/** The one availability zone of a region: this host. */
export const zoneOf = (region: string) => `${region}a`;
