import { Ec2Error, invalidParameter, missingParameter } from "./ec2-error.ts";

/** Bounds on one request's parameters (the body is capped too). */
const maxParams = 2000;
const maxListItems = 1000;
const maxValueBytes = 64 * 1024;

/** One EC2 filter: a name and the values that are OR'ed. */
export interface Filter {
  name: string;
  values: string[];
}

interface Root {
  values: Map<string, string>;
  used: Set<string>;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The flat parameters of an EC2 Query request (`ImageId.1`, `Filter.1.Value.2`),
 * read by name. Every key read is marked; `done()` refuses any that was not,
 * so a parameter we do not serve is never silently ignored.
 */
export class Params {
  private constructor(
    private readonly root: Root,
    private readonly base: string,
  ) {}

  static parse(body: string): Params {
    const values = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(body)) {
      if (values.has(k)) throw invalidParameter(`The parameter ${k.slice(0, 128)} is given more than once`);
      if (Buffer.byteLength(v) > maxValueBytes) throw invalidParameter(`The value of ${k.slice(0, 128)} is longer than ${maxValueBytes} bytes`);
      values.set(k, v);
      if (values.size > maxParams) throw invalidParameter(`A request may have at most ${maxParams} parameters`);
    }
    return new Params({ values, used: new Set() }, "");
  }

  string(name: string): string | undefined {
    const key = this.base + name;
    const v = this.root.values.get(key);
    if (v !== undefined) this.root.used.add(key);
    return v;
  }

  required(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === "") throw missingParameter(this.base + name);
    return v;
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = /^-?\d{1,15}$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) throw invalidParameter(`${this.base + name} must be a whole number from ${min} to ${max}`);
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (v !== "true" && v !== "false") throw invalidParameter(`${this.base + name} must be true or false`);
    return v === "true";
  }

  /** The indexes N of `name.N` or `name.N.*`, in order. */
  private indexes(name: string): number[] {
    const re = new RegExp(`^${escapeRe(this.base + name)}\\.(\\d{1,4})(?:\\.|$)`);
    const found = new Set<number>();
    for (const key of this.root.values.keys()) {
      const m = re.exec(key);
      if (m) found.add(Number(m[1]));
    }
    if (found.size > maxListItems) throw invalidParameter(`${this.base + name} may have at most ${maxListItems} items`);
    return [...found].sort((a, b) => a - b);
  }

  /** A list of strings: `name.1`, `name.2`, … */
  list(name: string): string[] {
    return this.indexes(name).map((n) => this.required(`${name}.${n}`));
  }

  /** A list of structures: `name.1.Field`, …, each read with its own Params. */
  structs(name: string): Params[] {
    return this.indexes(name).map((n) => new Params(this.root, `${this.base}${name}.${n}.`));
  }

  filters(): Filter[] {
    return this.structs("Filter").map((f) => ({ name: f.required("Name"), values: f.list("Value") }));
  }

  /** TagSpecification.N: the tags for each resource type. */
  tagSpecs(): Map<string, Record<string, string>> {
    const specs = new Map<string, Record<string, string>>();
    for (const s of this.structs("TagSpecification")) {
      const type = s.required("ResourceType");
      specs.set(type, { ...specs.get(type), ...s.tags("Tag") });
    }
    return specs;
  }

  /** `name.N.Key` / `name.N.Value` pairs. */
  tags(name: string): Record<string, string> {
    // fromEntries: a key such as __proto__ is a key like any other, not lost to the prototype.
    return Object.fromEntries(this.structs(name).map((t) => [t.required("Key"), t.string("Value") ?? ""]));
  }

  /**
   * Ends the reading: a parameter nobody read is refused (UnknownParameter),
   * and a dry run stops here, with the answer EC2 gives when it would have succeeded.
   */
  done(): void {
    const dryRun = this.bool("DryRun");
    for (const key of this.root.values.keys()) {
      if (!this.root.used.has(key)) throw new Ec2Error("UnknownParameter", 400, `The parameter ${key.slice(0, 128)} is not recognized`);
    }
    this.root.used.add("\u0000done");
    if (dryRun) throw new Ec2Error("DryRunOperation", 412, "Request would have succeeded, but DryRun flag is set.");
  }

  get finished(): boolean {
    return this.root.used.has("\u0000done");
  }
}
