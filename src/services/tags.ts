import { AppError, badRequest, conflict } from "../core/errors.ts";
import { idKind } from "../core/ids.ts";
import type { Catalog } from "../core/ports.ts";
import { checkTagCount, checkTags, checkTagSelectors, withoutTags, withTags, type TagSelector } from "../core/tag-rules.ts";
import type { Image, Instance, Snapshot, Tags, Volume } from "../core/types.ts";
import type { Images } from "./images.ts";
import type { Instances } from "./instances.ts";
import type { Snapshots } from "./snapshots.ts";
import type { Volumes } from "./volumes.ts";

export type TaggedType = "image" | "instance" | "volume" | "snapshot";

/** One tag of one resource, as EC2 DescribeTags lists it. */
export interface TagDescription {
  resourceId: string;
  resourceType: TaggedType;
  key: string;
  value: string;
}

type Tagged = Image | Instance | Volume | Snapshot;

/** How one kind of resource is found, listed and written. */
interface Kind {
  get(id: string): Tagged;
  /** Why its tags cannot change now (and it lists none), or null. */
  refusal(r: Tagged): AppError | null;
  list(): Tagged[];
  save(r: Tagged): void;
}

/** EC2 CreateTags, DeleteTags and DescribeTags over images, instances, volumes and snapshots. */
export class TagService {
  private readonly kinds: Record<TaggedType, Kind>;

  constructor(
    private readonly catalog: Catalog,
    services: { images: Images; instances: Instances; volumes: Volumes; snapshots: Snapshots },
  ) {
    const { images, instances, volumes, snapshots } = services;
    this.kinds = {
      image: {
        get: (id) => images.get(id),
        refusal: (r) => ((r as Image).state === "deregistered" ? conflict("IMAGE_DEREGISTERED", `Cannot change the tags of image ${r.id}: it is deregistered`) : null),
        list: () => catalog.images.list(),
        save: (r) => catalog.images.update(r as Image),
      },
      instance: {
        get: (id) => instances.get(id),
        refusal: (r) => ((r as Instance).state === "terminated" ? conflict("INVALID_INSTANCE_STATE", `Cannot change the tags of instance ${r.id}: it is terminated`) : null),
        list: () => catalog.instances.list(),
        save: (r) => catalog.instances.update(r as Instance),
      },
      volume: { get: (id) => volumes.get(id), refusal: () => null, list: () => catalog.volumes.list(), save: (r) => catalog.volumes.update(r as Volume) },
      snapshot: { get: (id) => snapshots.get(id), refusal: () => null, list: () => catalog.snapshots.list(), save: (r) => catalog.snapshots.update(r as Snapshot) },
    };
  }

  /** Sets the tags on every resource (a key there already takes the new value): on all of them, or, if one is refused, on none. */
  create(resourceIds: string[], tags: Tags): void {
    checkTags(tags);
    this.change(resourceIds, (r) => {
      const next = withTags(r.tags, tags);
      checkTagCount(next, `Resource ${r.id}`);
      return next;
    });
  }

  /**
   * Removes tags from every resource, as EC2 DeleteTags: a tag named with a
   * value only when it has that value, without one whatever its value; with
   * no tags named, every tag the user set. All of them, or none.
   */
  delete(resourceIds: string[], tags: TagSelector[]): void {
    checkTagSelectors(tags);
    this.change(resourceIds, (r) => withoutTags(r.tags, tags));
  }

  /** Every tag of every image, instance, volume and snapshot; deregistered images and terminated instances have none to show. */
  list(): TagDescription[] {
    return (Object.entries(this.kinds) as [TaggedType, Kind][]).flatMap(([resourceType, kind]) =>
      kind
        .list()
        .filter((r) => kind.refusal(r) === null)
        .flatMap((r) => Object.entries(r.tags).map(([key, value]) => ({ resourceId: r.id, resourceType, key, value }))),
    );
  }

  /** Finds and checks every resource, then writes each one's new tags, in one transaction. */
  private change(resourceIds: string[], next: (r: Tagged) => Tags): void {
    const ids = [...new Set(resourceIds)];
    const kinds = ids.map((id) => this.kindOf(id)); // every id well-formed, before any is looked up
    this.catalog.transaction(() => {
      const updated = ids.map((id, n) => {
        const kind = kinds[n] as Kind;
        const r = kind.get(id);
        const refused = kind.refusal(r);
        if (refused) throw refused;
        return { kind, r: { ...r, tags: next(r) } as Tagged };
      });
      for (const { kind, r } of updated) kind.save(r);
    });
  }

  private kindOf(id: string): Kind {
    const kind = idKind(id);
    if (kind === "image" || kind === "instance" || kind === "volume" || kind === "snapshot") return this.kinds[kind];
    throw badRequest("INVALID_RESOURCE_ID", `${id.slice(0, 64)} is not the id of an image (ami-), instance (i-), volume (vol-) or snapshot (snap-)`);
  }
}
