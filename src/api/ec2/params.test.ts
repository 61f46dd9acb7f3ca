import assert from "node:assert/strict";
import { test } from "node:test";
import { Ec2Error } from "./ec2-error.ts";
import { applyFilters, pageOf, readPage } from "./filters.ts";
import { Params } from "./params.ts";

const code = (c: string) => (e: unknown) => e instanceof Ec2Error && e.code === c;

test("lists, structures, filters and tag specifications read as EC2 clients write them", () => {
  const p = Params.parse(
    "InstanceId.2=i-b&InstanceId.1=i-a&Filter.1.Name=name&Filter.1.Value.1=web-*&Filter.1.Value.2=db&TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v&MaxCount=2",
  );
  assert.deepEqual(p.list("InstanceId"), ["i-a", "i-b"]);
  assert.deepEqual(p.filters(), [{ name: "name", values: ["web-*", "db"] }]);
  assert.deepEqual([...p.tagSpecs()], [["image", { k: "v" }]]);
  assert.equal(p.int("MaxCount", 1, 10), 2);
  p.done();
  assert.ok(p.finished);
});

test("a parameter nobody read is UnknownParameter; a repeated one, a bad number or boolean is InvalidParameterValue", () => {
  const p = Params.parse("ImageId=ami-1&Surprise=1");
  p.string("ImageId");
  assert.throws(() => p.done(), code("UnknownParameter"));
  assert.throws(() => Params.parse("A=1&A=2"), code("InvalidParameterValue"));
  assert.throws(() => Params.parse("N=1e3").int("N", 1, 100), code("InvalidParameterValue"));
  assert.throws(() => Params.parse("N=101").int("N", 1, 100), code("InvalidParameterValue"));
  assert.throws(() => Params.parse("B=yes").bool("B"), code("InvalidParameterValue"));
  assert.throws(() => Params.parse("").required("Name"), code("MissingParameter"));
});

test("DryRun stops after the parameters are checked", () => {
  const p = Params.parse("DryRun=true");
  assert.throws(() => p.done(), code("DryRunOperation"));
});

test("filters: values OR'ed, filters AND'ed, * and ? only, case-sensitive; unknown names refused", () => {
  const items: { name: string; tags: Record<string, string> }[] = [
    { name: "web-1", tags: { env: "prod" } },
    { name: "web-2", tags: { env: "test" } },
    { name: "db-1", tags: {} },
  ];
  const fields = { name: (i: { name: string }) => i.name };
  const names = (f: { name: string; values: string[] }[]) => applyFilters(items, f, fields, (i) => i.tags).map((i) => i.name);
  assert.deepEqual(names([{ name: "name", values: ["web-*", "db-?"] }]), ["web-1", "web-2", "db-1"]);
  assert.deepEqual(names([{ name: "name", values: ["web-*"] }, { name: "tag:env", values: ["prod"] }]), ["web-1"]);
  assert.deepEqual(names([{ name: "name", values: ["WEB-*"] }]), []);
  assert.deepEqual(names([{ name: "name", values: ["web.1"] }]), []);
  assert.deepEqual(names([{ name: "tag-key", values: ["env"] }]), ["web-1", "web-2"]);
  assert.throws(() => names([{ name: "nope", values: ["x"] }]), code("InvalidParameterValue"));
});

test("pages follow NextToken to the end; a forged token is refused; MaxResults is clamped to the most", () => {
  const all = [1, 2, 3];
  const first = pageOf(all, readPage(Params.parse("MaxResults=2")));
  assert.deepEqual(first.page, [1, 2]);
  const second = pageOf(all, readPage(Params.parse(`MaxResults=2&NextToken=${first.nextToken ?? ""}`)));
  assert.deepEqual(second, { page: [3], nextToken: undefined });
  assert.throws(() => readPage(Params.parse("NextToken=garbage")), code("InvalidParameterValue"));
  // Above the most is the most, as EC2 does; below the least is refused.
  assert.equal(readPage(Params.parse("MaxResults=1000"), { min: 5, max: 500 }).max, 500);
  assert.throws(() => readPage(Params.parse("MaxResults=4"), { min: 5, max: 500 }), code("InvalidParameterValue"));
});

test("filters whose matching would stall the daemon are refused, not run", () => {
  const items = Array.from({ length: 50 }, (_, n) => ({ tags: Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`k${k}`, "x".repeat(255) + String(n)])) }));
  const heavy = Array.from({ length: 10 }, () => ({ name: "tag-value", values: Array.from({ length: 200 }, () => `*${"?".repeat(250)}a*`) }));
  assert.throws(() => applyFilters(items, heavy, {}, (i) => i.tags), code("InvalidParameterValue"));
  assert.throws(() => applyFilters(items, Array.from({ length: 51 }, () => ({ name: "tag-key", values: ["k1"] })), {}, (i) => i.tags), code("InvalidParameterValue"));
});
