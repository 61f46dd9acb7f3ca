// CLI start-up benchmark: wall-clock seconds from spawn to exit of imagesmith commands
// against the AWS CLI's in the same run, with bare node as the floor. The runs of all
// commands are interleaved, so machine noise falls on each alike; one untimed run of
// each comes first (page cache). Prints every figure and the ratios. Not a test.
//
//   node --import tsx bench/cli-bench.ts [--runs 10]
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "../src/client/client.ts";
import { spawnDaemon, stopDaemon } from "./tools.ts";
import { atLeast, atMost, report, type Figure } from "./result.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const runs = Number(values.runs);
const root = fileURLToPath(new URL("..", import.meta.url));
const aws = "/usr/bin/aws"; // Debian's AWS CLI v2; the `aws` on PATH may be another

/** Seconds from spawn to exit, by the monotonic clock; a non-zero exit is an error showing its output. */
function timeRun(argv: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(argv[0] ?? "", argv.slice(1), { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out = (out + c.toString()).slice(-2000)));
    child.stderr.on("data", (c: Buffer) => (out = (out + c.toString()).slice(-2000)));
    child.once("error", reject);
    child.once("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      if (code === 0) resolve(seconds);
      else reject(new Error(`${argv.join(" ")} exited ${code}:\n${out}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

const work = await mkdtemp(join(tmpdir(), "imagesmith-cli-bench-"));
const dataDir = join(work, "data");
let daemon: ChildProcess | undefined;
try {
  // bin/imagesmith.js runs dist/ only when it is the build of the current sources, else tsx.
  const buildState = (await import(join(root, "scripts/build-state.mjs"))) as { buildIsCurrent: (root: string) => boolean };
  const binRuns = buildState.buildIsCurrent(root) ? "dist/ (compiled)" : "src/ through tsx (dist/ is older than src/)";
  console.log(`bin/imagesmith.js runs ${binRuns}`);

  // An empty catalog: image list and describe-images each make one round trip and list nothing.
  const d = await spawnDaemon(dataDir, join(work, "daemon.log"));
  daemon = d.child;
  const token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  const key = await new Client(d.url, token).createAccessKey();
  const ours = { IMAGESMITH_ENDPOINT: d.url, IMAGESMITH_TOKEN: token };
  // The AWS CLI reads only what is given here: no config or credentials files, no pager.
  const theirs = {
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_CONFIG_FILE: join(work, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(work, "aws-credentials"),
    AWS_PAGER: "",
  };
  const node = process.execPath;
  const commands: { what: string; argv: string[]; env: Record<string, string> }[] = [
    { what: "node -e 0 (floor)", argv: [node, "-e", "0"], env: {} },
    { what: "imagesmith --help", argv: [node, "bin/imagesmith.js", "--help"], env: {} },
    { what: "imagesmith image list", argv: [node, "bin/imagesmith.js", "image", "list"], env: ours },
    { what: "node dist/cli/main.js --help", argv: [node, "dist/cli/main.js", "--help"], env: {} },
    { what: "node dist/cli/main.js image list", argv: [node, "dist/cli/main.js", "image", "list"], env: ours },
    { what: "node --import tsx src/cli/main.ts --help", argv: [node, "--import", "tsx", "src/cli/main.ts", "--help"], env: {} },
    { what: "aws --version", argv: [aws, "--version"], env: {} },
    { what: "aws ec2 describe-images", argv: [aws, "ec2", "describe-images", "--endpoint-url", d.ec2Url], env: theirs },
  ];
  const times = new Map<string, number[]>(commands.map((c) => [c.what, []]));
  for (const c of commands) await timeRun(c.argv, c.env); // warm-up, untimed
  for (let i = 0; i < runs; i++) {
    for (const c of commands) times.get(c.what)?.push(await timeRun(c.argv, c.env));
  }

  console.log();
  console.log("command".padEnd(42), "median s".padStart(9), "min s".padStart(7), "max s".padStart(7));
  const medians = new Map<string, number>();
  for (const c of commands) {
    const ts = times.get(c.what) ?? [];
    medians.set(c.what, median(ts));
    console.log(c.what.padEnd(42), median(ts).toFixed(3).padStart(9), Math.min(...ts).toFixed(3).padStart(7), Math.max(...ts).toFixed(3).padStart(7));
  }
  const m = (what: string) => medians.get(what) ?? NaN;
  console.log(`\n${runs} runs each; imagesmith --help target ≤ 0.3 s; AWS CLI --version / imagesmith --help: ${(m("aws --version") / m("imagesmith --help")).toFixed(1)}x`);

  const figures: Figure[] = commands.map((c) => ({ name: `${c.what}, median`, value: m(c.what), unit: "s" }));
  report({
    bench: "cli",
    figures,
    ratios: [
      atMost("imagesmith --help, s", m("imagesmith --help"), 0.3),
      atLeast("AWS CLI --version / imagesmith --help", m("aws --version") / m("imagesmith --help"), 1),
      atLeast("aws ec2 describe-images / imagesmith image list", m("aws ec2 describe-images") / m("imagesmith image list"), 1),
    ],
    notes: [`bin/imagesmith.js runs ${binRuns}`, `${runs} interleaved runs each after one untimed run; image list and describe-images against an empty catalog`],
  });
} finally {
  if (daemon) await stopDaemon(daemon);
  await rm(work, { recursive: true, force: true });
}
