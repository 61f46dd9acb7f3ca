import type { ServiceContext } from "./context.ts";
import { Images } from "./images.ts";
import { Instances } from "./instances.ts";
import { KeyPairs } from "./key-pairs.ts";
import { Operations } from "./operations.ts";

/** The use cases, wired to one context. */
export class Services {
  readonly operations: Operations;
  readonly keyPairs: KeyPairs;
  readonly images: Images;
  readonly instances: Instances;

  constructor(readonly ctx: ServiceContext) {
    this.operations = new Operations(ctx.catalog);
    this.keyPairs = new KeyPairs(ctx.catalog);
    this.images = new Images(ctx, this.operations);
    this.instances = new Instances(ctx, this.images, this.keyPairs);
  }

  async recover(): Promise<void> {
    await this.images.recover();
    await this.instances.recover();
  }
}
