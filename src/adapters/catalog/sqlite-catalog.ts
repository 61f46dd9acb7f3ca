import Database from "better-sqlite3";
import type { Catalog, Repo } from "../../core/ports.ts";
import type { Image, Instance, KeyPair, Operation, Snapshot, Volume } from "../../core/types.ts";
import { migrations } from "./migrations.ts";

type Db = Database.Database;

/** One resource kind in one table: the id and the resource as JSON. */
class SqliteRepo<T extends { id: string }> implements Repo<T> {
  private readonly getStmt;
  private readonly listStmt;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly deleteStmt;

  constructor(db: Db, table: string) {
    this.getStmt = db.prepare<[string], { data: string }>(`SELECT data FROM ${table} WHERE id = ?`);
    this.listStmt = db.prepare<[], { data: string }>(`SELECT data FROM ${table} ORDER BY rowid`);
    this.insertStmt = db.prepare(`INSERT INTO ${table} (id, data) VALUES (?, ?)`);
    this.updateStmt = db.prepare(`UPDATE ${table} SET data = ? WHERE id = ?`);
    this.deleteStmt = db.prepare(`DELETE FROM ${table} WHERE id = ?`);
  }

  get(id: string): T | undefined {
    const row = this.getStmt.get(id);
    return row ? (JSON.parse(row.data) as T) : undefined;
  }

  list(): T[] {
    return this.listStmt.all().map((r) => JSON.parse(r.data) as T);
  }

  insert(item: T): void {
    this.insertStmt.run(item.id, JSON.stringify(item));
  }

  update(item: T): void {
    const { changes } = this.updateStmt.run(JSON.stringify(item), item.id);
    if (changes !== 1) throw new Error(`catalog: no row ${item.id} to update`);
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
  private readonly db: Db;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.migrate();
    this.instances = new SqliteRepo(this.db, "instances");
    this.images = new SqliteRepo(this.db, "images");
    this.keyPairs = new SqliteRepo(this.db, "key_pairs");
    this.volumes = new SqliteRepo(this.db, "volumes");
    this.snapshots = new SqliteRepo(this.db, "snapshots");
    this.operations = new SqliteRepo(this.db, "operations");
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

  findTokenHash(hash: string): boolean {
    return this.db.prepare("SELECT 1 FROM api_tokens WHERE hash = ?").get(hash) !== undefined;
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
