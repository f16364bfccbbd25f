/** The lab's database: SQLite through better-sqlite3 (the embedded default), the CardLink schema. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CardlinkStore, sqliteRunner } from '../../test/fixtures/data-layer.js';

export interface LabStore {
  readonly path: string;
  readonly store: CardlinkStore;
  close(): void;
}

export async function openStore(): Promise<LabStore> {
  const path = join(mkdtempSync(join(tmpdir(), 'cardlink-demo-')), 'cardlink.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  const store = new CardlinkStore(sqliteRunner(db));
  await store.migrate();
  return { path, store, close: () => db.close() };
}
