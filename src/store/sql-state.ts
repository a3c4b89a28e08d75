import type { Db, Queryable } from './db.ts';

// The whole database's data as one value: every data table of the migrated schema captured at one moment, and put
// back later in one transaction. This is what a sandbox reset restores (src/server/sandbox/). The tables are read from
// the catalog, not from a list kept here, so a table a later migration adds is captured and emptied with the others.
// Rows travel as JSON text (json_agg, json_populate_recordset): the same SQL on PGlite and PostgreSQL, every column
// type converted by the database's own input and output functions, nothing parsed in JavaScript.

/** The migrator's own table: its rows say which migrations ran, not what the data is. */
const MIGRATIONS_TABLE = 'schema_migrations';

/** One data table as captured. */
export interface CapturedTable {
  name: string;
  /** The columns written back (generated ones are left to the database). */
  columns: string[];
  /** Its rows, a JSON array. */
  rows: string;
  count: number;
}

/** Every data table's rows at one moment, parents before children (by foreign key), so they go back in this order. */
export interface StoreState {
  readonly tables: readonly CapturedTable[];
}

/** Capturing and restoring the data of every table at once (a sandbox's reset state). */
export interface StateStore {
  /** Reads every data table of the schema (all but schema_migrations) in one transaction. */
  captureState(): Promise<StoreState>;
  /** Empties every captured table and fills it with its captured rows, in one transaction. */
  restoreState(state: StoreState): Promise<void>;
  /** Empties every data table (what a sandbox does before its fixture is seeded). */
  clearData(): Promise<void>;
  /** Whether any data table holds a row (a store that does not is new: a fixture may be seeded into it). */
  holdsData(): Promise<boolean>;
}

interface TableRow {
  name: string;
  columns: string[];
}

interface ForeignKeyRow {
  child: string;
  parent: string;
}

/** `"name"`, quoted as an SQL identifier. */
function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The data tables of the current schema and their writable columns, from the catalog. */
async function listTables(q: Queryable): Promise<TableRow[]> {
  const { rows } = await q.query<TableRow>(
    `SELECT c.relname AS name,
            array(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum) AS columns
     FROM pg_class c
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND c.relname <> $1
     ORDER BY c.relname`,
    [MIGRATIONS_TABLE],
  );
  return rows;
}

/** `tables` with every table after the tables its foreign keys point to (a table may point to itself). */
async function parentsFirst(q: Queryable, tables: TableRow[]): Promise<TableRow[]> {
  const { rows } = await q.query<ForeignKeyRow>(
    `SELECT child.relname AS child, parent.relname AS parent
     FROM pg_constraint k
     JOIN pg_class child ON child.oid = k.conrelid
     JOIN pg_class parent ON parent.oid = k.confrelid
     WHERE k.contype = 'f' AND child.relnamespace = current_schema()::regnamespace`,
  );
  const ordered: TableRow[] = [];
  const placed = new Set<string>();
  let pending = tables;
  while (pending.length > 0) {
    const ready = pending.filter((table) =>
      rows.every((fk) => fk.child !== table.name || fk.parent === table.name || placed.has(fk.parent)),
    );
    if (ready.length === 0) {
      throw new Error(`foreign keys form a cycle between ${pending.map((t) => t.name).join(', ')}`);
    }
    for (const table of ready) {
      ordered.push(table);
      placed.add(table.name);
    }
    pending = pending.filter((table) => !placed.has(table.name));
  }
  return ordered;
}

/** The state statements, run on `db` (already wrapped with the store's typed errors). */
export function stateStatements(db: Db): StateStore {
  return {
    async captureState() {
      return db.transaction(async (tx) => {
        const tables = await parentsFirst(tx, await listTables(tx));
        const captured: CapturedTable[] = [];
        for (const { name, columns } of tables) {
          const { rows } = await tx.query<{ rows: string; count: number }>(
            `SELECT coalesce(json_agg(t), '[]'::json)::text AS rows, count(*)::int AS count FROM ${quoted(name)} t`,
          );
          captured.push({ name, columns, rows: rows[0]?.rows ?? '[]', count: rows[0]?.count ?? 0 });
        }
        return { tables: captured };
      });
    },

    async clearData() {
      const tables = await listTables(db);
      if (tables.length > 0) {
        await db.exec(`TRUNCATE TABLE ${tables.map((t) => quoted(t.name)).join(', ')}`);
      }
    },

    async holdsData() {
      const tables = await listTables(db);
      if (tables.length === 0) {
        return false;
      }
      const { rows } = await db.query<{ holds: boolean }>(
        `SELECT ${tables.map((t) => `EXISTS (SELECT 1 FROM ${quoted(t.name)})`).join(' OR ')} AS holds`,
      );
      return rows[0]?.holds === true;
    },

    async restoreState(state) {
      if (state.tables.length === 0) {
        return;
      }
      await db.transaction(async (tx) => {
        // One TRUNCATE of every table: foreign keys between them don't stand in its way, and it is one statement.
        await tx.exec(`TRUNCATE TABLE ${state.tables.map((t) => quoted(t.name)).join(', ')}`);
        for (const table of state.tables) {
          if (table.count === 0) {
            continue;
          }
          const columns = table.columns.map(quoted).join(', ');
          await tx.query(
            `INSERT INTO ${quoted(table.name)} (${columns})
             SELECT ${columns} FROM json_populate_recordset(NULL::${quoted(table.name)}, $1::json)`,
            [table.rows],
          );
        }
      });
    },
  };
}
