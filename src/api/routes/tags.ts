import type { Api } from "../server.ts";
import { TagsDeletePost, TagsList, TagsPost } from "../schemas.ts";

export function tagRoutes(api: Api): void {
  const { app, services } = api;
  const tags = ["tags"];
  app.post("/v1/tags", {
    schema: {
      summary: "Tag images, instances, volumes and snapshots (EC2 CreateTags): all of them, or none if one is refused",
      tags,
      body: TagsPost,
    },
    handler: async (req, reply) => {
      services.tags.create(req.body.resourceIds, req.body.tags);
      return reply.status(204).send();
    },
  });
  app.post("/v1/tags/delete", {
    schema: {
      summary: "Remove tags from resources (EC2 DeleteTags): a tag with a value only if it has that value; no tags named, every tag the user set",
      tags,
      body: TagsDeletePost,
    },
    handler: async (req, reply) => {
      services.tags.delete(req.body.resourceIds, req.body.tags ?? []);
      return reply.status(204).send();
    },
  });
  app.get("/v1/tags", {
    schema: { summary: "Every tag of every image, instance, volume and snapshot (EC2 DescribeTags)", tags, response: { 200: TagsList } },
    handler: async () => ({ tags: services.tags.list() }),
  });
}
