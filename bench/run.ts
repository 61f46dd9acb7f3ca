// `npm run bench`: every bench on this machine, one after another (never two at once: they
// would measure each other), then one table of figures and ratios, also written as JSON to
// bench/results/<time>.json for comparison between runs. Each bench takes the median of its
// own repeated runs (--runs, default 3). Nothing asserts: a missed target is printed as such.
//
//   node --import tsx bench/run.ts [--only capture,launch,api,cli] [--runs 3] [--sizes 2,8]
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { BenchResult } from "./result.ts";

const { values } = parseArgs({ options: { only: { type: "string" }, runs: { type: "string", default: "3" }, sizes: { type: "string", default: "2,8" } } });
const here = new URL(".", import.meta.url).pathname;
const benches: Record<string, string[]> = {
  cli: ["cli-bench.ts"],
  api: ["api-bench.ts"],
  launch: ["launch-bench.ts", "--runs", values.runs],
  capture: ["snapshot-bench.ts", "--runs", values.runs, "--sizes", values.sizes],
};
const chosen = values.only ? values.only.split(",") : Object.keys(benches);

async function runBench(name: string, args: string[]): Promise<BenchResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", join(here, ...args.slice(0, 1)), ...args.slice(1)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (s: string) => {
    out += s;
    for (const line of s.split("\n")) if (line && !line.startsWith("BENCH-RESULT ")) process.stderr.write(`  [${name}] ${line}\n`);
  });
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  const line = out.split("\n").find((l) => l.startsWith("BENCH-RESULT "));
  if (code !== 0 || !line) throw new Error(`bench ${name} failed (exit ${code}) after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const result = JSON.parse(line.slice("BENCH-RESULT ".length)) as BenchResult;
  return { ...result, notes: [...(result.notes ?? []), `took ${((Date.now() - started) / 1000).toFixed(0)} s`] };
}

const results: BenchResult[] = [];
const failures: string[] = [];
for (const name of chosen) {
  const args = benches[name];
  if (!args) throw new Error(`no bench named ${name}; they are ${Object.keys(benches).join(", ")}`);
  console.error(`bench ${name} …`);
  try {
    results.push(await runBench(name, args));
  } catch (err) {
    failures.push((err as Error).message);
  }
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
for (const r of results) {
  console.log(`\n## ${r.bench}\n`);
  console.log("| figure | value | unit |\n| --- | ---: | --- |");
  for (const f of r.figures) console.log(`| ${f.name} | ${fmt(f.value)} | ${f.unit} |`);
  console.log("\n| ratio | value | target | met |\n| --- | ---: | --- | --- |");
  for (const q of r.ratios) console.log(`| ${q.name} | ${fmt(q.value)} | ${q.target} | ${q.met ? "yes" : "**no**"} |`);
  for (const n of r.notes ?? []) console.log(`\n- ${n}`);
}
const dir = join(here, "results");
await mkdir(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), results, failures }, null, 2)}\n`);
console.log(`\nwritten: ${file}`);
for (const f of failures) console.log(`FAILED: ${f}`);
process.exitCode = failures.length > 0 ? 1 : 0;
