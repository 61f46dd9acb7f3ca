import Database from "better-sqlite3";
import type { Catalog, Repo, StateEvent } from "../../core/ports.ts";
import { upgradeInstance } from "../../core/record-upgrades.ts";
import type { AccessKey, Image, Instance, KeyPair, Operation, Snapshot, Volume } from "../../core/types.ts";
import { migrations } from "./migrations.ts";

type Db = Database.Database;

interface Stateful {
  id: string;
  state?: string;
  stateReason?: string | null;
}

/**
 * One resource kind in one table: the id and the resource as JSON. Inserting
 * a resource with a state, or changing its state, records an event in the
 * same statement's transaction. Rows are read back through `upgrade`, which
 * fills in what records of an earlier version lack.
 */
class SqliteRepo<T extends Stateful> implements Repo<T> {
  private readonly getStmt;
  private readonly listStmt;
  private readonly findStmt;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly deleteStmt;
  private readonly eventStmt;
  private readonly db: Db;
  private readonly upgrade: (stored: T) => T;

  constructor(db: Db, table: string, upgrade: (stored: T) => T = (stored) => stored) {
    this.db = db;
    this.upgrade = upgrade;
    this.eventStmt = db.prepare("INSERT INTO events (time, resource_id, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)");
    this.getStmt = db.prepare<[string], { data: string }>(`SELECT data FROM ${table} WHERE id = ?`);
    this.listStmt = db.prepare<[], { data: string }>(`SELECT data FROM ${table} ORDER BY rowid`);
    // The same expression as the tables' name indexes (migrations.ts), so SQLite uses them.
    this.findStmt = db.prepare<[string], { data: string }>(`SELECT data FROM ${table} WHERE json_extract(data, '$.name') = ? ORDER BY rowid`);
    this.insertStmt = db.prepare(`INSERT INTO ${table} (id, data) VALUES (?, ?)`);
    this.updateStmt = db.prepare(`UPDATE ${table} SET data = ? WHERE id = ?`);
    this.deleteStmt = db.prepare(`DELETE FROM ${table} WHERE id = ?`);
  }

  get(id: string): T | undefined {
    const row = this.getStmt.get(id);
    return row ? this.upgrade(JSON.parse(row.data) as T) : undefined;
  }

  list(): T[] {
    return this.listStmt.all().map((r) => this.upgrade(JSON.parse(r.data) as T));
  }

  findBy(_field: "name", value: string): T[] {
    return this.findStmt.all(value).map((r) => this.upgrade(JSON.parse(r.data) as T));
  }

  insert(item: T): void {
    this.db.transaction(() => {
      this.insertStmt.run(item.id, JSON.stringify(item));
      if (item.state) this.eventStmt.run(new Date().toISOString(), item.id, null, item.state, item.stateReason ?? null);
    })();
  }

  update(item: T): void {
    this.db.transaction(() => {
      const before = item.state ? this.get(item.id) : undefined;
      const { changes } = this.updateStmt.run(JSON.stringify(item), item.id);
      if (changes !== 1) throw new Error(`catalog: no row ${item.id} to update`);
      if (item.state && before?.state !== item.state) {
        this.eventStmt.run(new Date().toISOString(), item.id, before?.state ?? null, item.state, item.stateReason ?? null);
      }
    })();
  }

  delete(id: string): void {
    this.deleteStmt.run(id);
  }
}

export class SqliteCatalog implements Catalog {
  readonly instances: Repo<Instance>;
  readonly images: Repo<Image>;
  readonly keyPairs: Repo<KeyPair>;
  readonly volumes: Repo<Volume>;
  readonly snapshots: Repo<Snapshot>;
  readonly operations: Repo<Operation>;
  readonly accessKeys: Repo<AccessKey>;
  private readonly db: Db;
  /** Asked on every API request: prepared once. */
  private readonly tokenStmt;
  private readonly eventsStmt;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.migrate();
    this.instances = new SqliteRepo(this.db, "instances", upgradeInstance);
    this.images = new SqliteRepo(this.db, "images");
    this.keyPairs = new SqliteRepo(this.db, "key_pairs");
    this.volumes = new SqliteRepo(this.db, "volumes");
    this.snapshots = new SqliteRepo(this.db, "snapshots");
    this.operations = new SqliteRepo(this.db, "operations");
    this.accessKeys = new SqliteRepo(this.db, "access_keys");
    this.tokenStmt = this.db.prepare<[string], unknown>("SELECT 1 FROM api_tokens WHERE hash = ?");
    this.eventsStmt = this.db.prepare<[number, string | null, string | null, number], { seq: number; time: string; resource_id: string; from_state: string | null; to_state: string; reason: string | null }>(
      "SELECT * FROM events WHERE seq > ? AND (? IS NULL OR resource_id = ?) ORDER BY seq LIMIT ?",
    );
  }

  get schemaVersion(): number {
    return this.db.pragma("user_version", { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.db.pragma("user_version", { simple: true }) as number;
    for (const m of migrations) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  transaction<R>(fn: () => R): R {
    return this.db.transaction(fn)();
  }

  events(options: { afterSeq: number; resourceId?: string; limit: number }): StateEvent[] {
    const rows = this.eventsStmt.all(options.afterSeq, options.resourceId ?? null, options.resourceId ?? null, options.limit);
    return rows.map((r) => ({ seq: r.seq, time: r.time, resourceId: r.resource_id, fromState: r.from_state, toState: r.to_state, reason: r.reason }));
  }

  findTokenHash(hash: string): boolean {
    return this.tokenStmt.get(hash) !== undefined;
  }

  addTokenHash(hash: string, name: string): void {
    this.db
      .prepare("INSERT INTO api_tokens (hash, name, created_at) VALUES (?, ?, ?)")
      .run(hash, name, new Date().toISOString());
  }

  close(): void {
    this.db.close();
  }
}
