// Versioned schema migrations for the SQLite catalog. Append only: never edit
// a migration that has shipped; add the next version instead.
export const migrations: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE instances (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE images (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE key_pairs (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE UNIQUE INDEX key_pairs_name ON key_pairs (json_extract(data, '$.name'));
      CREATE TABLE volumes (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE operations (id TEXT PRIMARY KEY, data TEXT NOT NULL);
      CREATE TABLE api_tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    sql: `CREATE TABLE snapshots (id TEXT PRIMARY KEY, data TEXT NOT NULL);`,
  },
  {
    version: 3,
    sql: `
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT
      );
      CREATE INDEX events_resource ON events (resource_id, seq);
    `,
  },
  {
    version: 4,
    sql: `CREATE TABLE access_keys (id TEXT PRIMARY KEY, data TEXT NOT NULL);`,
  },
  {
    version: 5,
    // Image names are checked at every register, copy, import and CreateImage: by index, not by reading every image.
    sql: `CREATE INDEX images_name ON images (json_extract(data, '$.name'));`,
  },
];
