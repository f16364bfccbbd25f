import t from 'tap';
import fc from 'fast-check';
import {
  DEFAULT_SANITIZED_LENGTH,
  MAX_SQL_SCAN,
  QUERY_TYPES,
  SqlSummaryCache,
  TRUNCATION_MARK,
  classifySql,
  mainTable,
  queryType,
  redactConnectionString,
  sanitizeSql,
} from '../instrumentations/db/sql.js';

t.test('queryType and mainTable on real-world statements', async (t) => {
  const cases: Array<[string, string, string | undefined]> = [
    ['SELECT * FROM users', 'SELECT', 'users'],
    ['select id from sessions where iccid = ?', 'SELECT', 'sessions'],
    ['   \n\t  SELECT 1', 'SELECT', undefined],
    ['-- fetch pending\nSELECT id FROM jobs', 'SELECT', 'jobs'],
    ['/* multi\nline */ /* two */ -- three\n  update jobs set state = 1', 'UPDATE', 'jobs'],
    ['(SELECT a FROM t1) UNION (SELECT a FROM t2)', 'SELECT', 't1'],
    ['SELECT t1.a, t2.b FROM t1 JOIN t2 ON t1.id = t2.id', 'SELECT', 't1'],
    ['SELECT * FROM a, b WHERE a.x = b.x', 'SELECT', 'a'],
    ['SELECT EXTRACT(YEAR FROM created_at) AS y, SUBSTRING(name FROM 2) FROM events', 'SELECT', 'events'],
    ["SELECT 'FROM x' AS s, \"from\" FROM logs", 'SELECT', 'logs'],
    ['SELECT * FROM (SELECT 1) AS sub', 'SELECT', undefined],
    ['SELECT * FROM generate_series(1, 10)', 'SELECT', undefined],
    ['SELECT * FROM ONLY measurements', 'SELECT', 'measurements'],
    ['SELECT * FROM public.accounts FOR UPDATE', 'SELECT', 'public.accounts'],
    ['SELECT * FROM main."OTA Sessions"', 'SELECT', undefined], // space: not a safe identifier
    ['SELECT * FROM "ota_sessions"', 'SELECT', 'ota_sessions'],
    ['SELECT * FROM `ota-sessions`', 'SELECT', 'ota-sessions'],
    ['SELECT * FROM [apdu_log]', 'SELECT', 'apdu_log'],
    ['SELECT * FROM db.main.t', 'SELECT', 'db.main.t'],
    ['SELECT * FROM ' + 'x'.repeat(65), 'SELECT', undefined],
    ['SELECT now()', 'SELECT', undefined],
    ['SELECT 1; SELECT * FROM t', 'SELECT', undefined],
    ['INSERT INTO sessions (id, iccid) VALUES ($1, $2) RETURNING id', 'INSERT', 'sessions'],
    ['insert or replace into kv(k, v) values (?, ?)', 'INSERT', 'kv'],
    ['INSERT OR IGNORE INTO main.devices DEFAULT VALUES', 'INSERT', 'main.devices'],
    ['REPLACE INTO kv (k) VALUES (?)', 'INSERT', 'kv'],
    ['INSERT INTO "Cards" SELECT * FROM staging', 'INSERT', 'Cards'],
    ['UPDATE OR ROLLBACK cards SET state = ? WHERE iccid = ?', 'UPDATE', 'cards'],
    ['UPDATE ONLY cards SET x = 1', 'UPDATE', 'cards'],
    ['DELETE FROM apdu_log WHERE ts < ?', 'DELETE', 'apdu_log'],
    ['delete from only public.t', 'DELETE', 'public.t'],
    ['BEGIN', 'BEGIN', undefined],
    ['BEGIN IMMEDIATE TRANSACTION', 'BEGIN', undefined],
    ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'BEGIN', undefined],
    ['START', 'OTHER', undefined],
    ['COMMIT', 'COMMIT', undefined],
    ['END TRANSACTION', 'COMMIT', undefined],
    ['ROLLBACK', 'ROLLBACK', undefined],
    ['ROLLBACK TO SAVEPOINT sp1', 'ROLLBACK', undefined],
    ['ABORT', 'ROLLBACK', undefined],
    ['SAVEPOINT sp1', 'OTHER', undefined],
    ['RELEASE SAVEPOINT sp1', 'OTHER', undefined],
    ['CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, iccid TEXT)', 'CREATE', 'sessions'],
    ['CREATE TEMP TABLE scratch (a)', 'CREATE', 'scratch'],
    ['CREATE GLOBAL TEMPORARY TABLE g (a int)', 'CREATE', 'g'],
    ['CREATE UNLOGGED TABLE public.fast (a int)', 'CREATE', 'public.fast'],
    ['CREATE INDEX IF NOT EXISTS idx_a ON t(a)', 'CREATE', undefined],
    ['CREATE TABLE IF EXISTS t (a)', 'CREATE', undefined],
    ['DROP TABLE IF EXISTS public.t2', 'DROP', 'public.t2'],
    ['DROP INDEX idx', 'DROP', undefined],
    ['ALTER TABLE cards ADD COLUMN imsi TEXT', 'ALTER', 'cards'],
    ['ALTER TABLE IF EXISTS ONLY cards RENAME TO c2', 'ALTER', 'cards'],
    ['PRAGMA journal_mode = WAL', 'PRAGMA', undefined],
    ['PRAGMA main.table_info(sessions)', 'PRAGMA', undefined],
    ['pragma foreign_keys=ON;', 'PRAGMA', undefined],
    ['WITH x AS (SELECT 1) SELECT * FROM x', 'SELECT', 'x'],
    ['WITH RECURSIVE cnt(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM cnt WHERE n < (SELECT max(id) FROM (SELECT id FROM t))) SELECT n FROM cnt', 'SELECT', 'cnt'],
    ["WITH a AS (SELECT ')' AS p, '(' AS q /* ) */ -- )\n), b(x, y) AS NOT MATERIALIZED (SELECT 1, 2) INSERT INTO log SELECT * FROM a", 'INSERT', 'log'],
    ['with moved as materialized (delete from q where id = 1 returning *) insert into done select * from moved', 'INSERT', 'done'],
    ['WITH u AS (SELECT 1) UPDATE t SET a = 1', 'UPDATE', 't'],
    ['WITH u AS (SELECT 1) DELETE FROM t', 'DELETE', 't'],
    ['WITH u AS (SELECT $$ ) $$) REPLACE INTO t VALUES (1)', 'INSERT', 't'],
    ['WITH RECURSIVE s(id) AS (SELECT 1) SEARCH DEPTH FIRST BY id SET ord SELECT * FROM s', 'SELECT', 's'],
    ['WITH x AS (SELECT 1) (SELECT * FROM x)', 'SELECT', 'x'],
    ['WITH x AS (SELECT 1) VALUES (1)', 'OTHER', undefined],
    ['WITH x AS (SELECT 1', 'OTHER', undefined],
    ['WITH x SELECT 1', 'OTHER', undefined],
    ['EXPLAIN QUERY PLAN SELECT 1', 'OTHER', undefined],
    ['VACUUM', 'OTHER', undefined],
    ['TRUNCATE t', 'OTHER', undefined],
    ['SET search_path TO x', 'OTHER', undefined],
    ['', 'OTHER', undefined],
    ['   ', 'OTHER', undefined],
    ['-- only a comment', 'OTHER', undefined],
    ['/* unterminated SELECT', 'OTHER', undefined],
    [';;  SELECT 1', 'SELECT', undefined],
    ['SELECTED', 'OTHER', undefined],
    ['ſelect 1', 'OTHER', undefined], // U+017F must not fold to S
  ];
  for (const [sql, type, table] of cases) {
    t.equal(queryType(sql), type, `type: ${sql}`);
    t.equal(mainTable(sql), table, `table: ${sql}`);
    const c = classifySql(sql);
    t.equal(c.queryType, type);
    t.equal(c.table, table);
  }
  t.equal(queryType(42 as unknown as string), 'OTHER');
  t.equal(mainTable(null as unknown as string), undefined);
  t.same(classifySql(undefined as unknown as string), { queryType: 'OTHER', sanitized: '' });
});

t.test('sanitizeSql: literals out, structure kept', async (t) => {
  const cases: Array<[string, string]> = [
    ["SELECT * FROM users WHERE name = 'bob' AND id = 42", 'SELECT * FROM users WHERE name = ? AND id = ?'],
    ["SELECT 'it''s', 'a' 'b'", 'SELECT ?, ? ?'],
    ["SELECT E'tab\\there \\\\', e'x'", 'SELECT ?, ?'],
    ["SELECT X'DEADBEEF', x'00', B'0101', N'name', U&'d\\0061t'", 'SELECT ?, ?, ?, ?, ?'],
    ["SELECT $$it's $1 -- not a comment$$, $fn$ body ' $$ $fn$, $a1$x$a1$", 'SELECT ?, ?, ?'],
    ['SELECT 1, 1.5, .5, 1e10, 1.5E-3, 2e+7, 0x1F, 0XAB, 1_000_000, 0b1010, 0o17', 'SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?'],
    ['SELECT a - 5, a-5, -5, x = -5.5, (-1), a * -2, b+-3', 'SELECT a - ?, a-?, ?, x = ?, (?), a * ?, b+?'],
    ['SELECT TRUE, false, NULL, null', 'SELECT ?, ?, NULL, null'],
    ['SELECT col1, t2.c3, "col 4", `c5`, [c6] FROM t2', 'SELECT col1, t2.c3, "col 4", `c5`, [c6] FROM t2'],
    ['SELECT arr[1], arr[$2]', 'SELECT arr[?], arr[$2]'],
    // A quote inside [...]: SQLite's bracketed identifier or PostgreSQL's subscript. Where both
    // readings end at the same `]` the whole of it is hidden; where they do not, nothing after it is shown.
    ["SELECT data['kicsecret'], [col \"x\"] FROM t", 'SELECT data[?], [?] FROM t'],
    ["SELECT [holder's name] = 'KICSECRETKEY' FROM cards", 'SELECT ?…'],
    ["UPDATE cards SET [holder's name] = 'Alice Smith', ki = 'NEWSECRETKEY'", 'UPDATE cards SET ?…'],
    ['SELECT * FROM t WHERE a = $1 AND b = ? AND c = ?12 AND d = :name AND e = @p AND f = $id', 'SELECT * FROM t WHERE a = $1 AND b = ? AND c = ?12 AND d = :name AND e = @p AND f = $id'],
    ['SELECT a::int, b::text[] FROM t', 'SELECT a::int, b::text[] FROM t'],
    ['SELECT * FROM t WHERE id IN (1, 2, 3) AND x NOT IN (?,?,?) AND y in ( ? , ? )', 'SELECT * FROM t WHERE id IN (?) AND x NOT IN (?) AND y in (?)'],
    ['SELECT * FROM t WHERE id IN (1, a, 3)', 'SELECT * FROM t WHERE id IN (?, a, ?)'],
    ['SELECT * FROM t WHERE id IN ($1, $2)', 'SELECT * FROM t WHERE id IN ($1, $2)'],
    ['  SELECT\n\t*\r\n  FROM   t  -- trailing\n', 'SELECT * FROM t'],
    ["SELECT /* secret 'x' 123 */ a -- 456 'y'\nFROM t", 'SELECT a FROM t'],
    ["INSERT INTO t (a) VALUES ('unterminated", 'INSERT INTO t (a) VALUES (?'],
    ['SELECT "unterminated FROM t', 'SELECT ?'],
    ["SELECT $$never closed 'x'", 'SELECT ?'],
    ['SELECT a$b, $ FROM t', 'SELECT a$b, $ FROM t'],
    ['INSERT INTO sessions (id, iccid) VALUES ($1, $2) RETURNING id', 'INSERT INTO sessions (id, iccid) VALUES ($1, $2) RETURNING id'],
    ["UPDATE cards SET ki = X'00112233445566778899AABBCCDDEEFF', opc = '0123' WHERE iccid = '8944'", 'UPDATE cards SET ki = ?, opc = ? WHERE iccid = ?'],
    ['', ''],
  ];
  for (const [sql, expected] of cases) t.equal(sanitizeSql(sql), expected, sql);
  t.equal(classifySql("SELECT * FROM t WHERE a = 'x'").sanitized, 'SELECT * FROM t WHERE a = ?');
  t.equal(sanitizeSql(undefined as unknown as string), '');
});

t.test('sanitizeSql: bounds and truncation mark', async (t) => {
  const long = 'SELECT ' + Array.from({ length: 2000 }, (_, i) => `col_${String.fromCharCode(97 + (i % 26))}`).join(', ') + ' FROM t';
  const out = sanitizeSql(long);
  t.equal(out.length, DEFAULT_SANITIZED_LENGTH);
  t.ok(out.endsWith(TRUNCATION_MARK));
  t.equal(sanitizeSql(long, 100).length, 100);
  // A huge input is only scanned up to MAX_SQL_SCAN and is marked.
  const huge = 'SELECT a FROM t WHERE b = ' + "'" + 'x'.repeat(MAX_SQL_SCAN * 4) + "'";
  const h = sanitizeSql(huge);
  t.equal(h, 'SELECT a FROM t WHERE b = ?' + TRUNCATION_MARK);
  // Work is bounded by the scan limit, not the input: 16 times the input reads the same prefix.
  t.equal(sanitizeSql(huge + 'x'.repeat(MAX_SQL_SCAN * 12)), h, 'nothing past MAX_SQL_SCAN is read');
  t.equal(sanitizeSql('SELECT 1', 3), 'SELECT ?', 'a too small bound is raised to 16');
  // Cutting never splits a surrogate pair.
  const emoji = sanitizeSql('SELECT "' + '😀'.repeat(30) + '" FROM t WHERE ' + 'a AND '.repeat(10), 40);
  t.ok(emoji.length <= 40);
  t.notOk(/[\ud800-\udbff]$/.test(emoji.slice(0, -1)));
  t.equal(queryType(' '.repeat(MAX_SQL_SCAN + 10) + 'SELECT 1'), 'OTHER', 'nothing past the scan bound');
});

t.test('SqlSummaryCache: memoises, bounded, LRU', async (t) => {
  const cache = new SqlSummaryCache(2);
  const a = cache.get('SELECT 1');
  t.equal(cache.get('SELECT 1'), a, 'same object on a hit');
  cache.get('SELECT 2');
  cache.get('SELECT 1'); // refresh
  cache.get('SELECT 3'); // evicts SELECT 2
  t.equal(cache.size, 2);
  t.equal(cache.get('SELECT 1'), a);
  const big = new SqlSummaryCache(10, 8);
  big.get('SELECT * FROM long_table');
  t.equal(big.size, 0, 'long texts are not kept');
  t.equal(big.get('SELECT * FROM long_table').table, 'long_table');
  t.ok(Object.isFrozen(a));
});

t.test('redactConnectionString', async (t) => {
  const cases: Array<[string, string]> = [
    ['postgres://cardlink:s3cr3t@db.lab:5432/cardlink', 'postgres://cardlink:REDACTED@db.lab:5432/cardlink'],
    ['postgresql://cardlink:p%40ss%2Fword@db/cardlink?sslmode=require', 'postgresql://cardlink:REDACTED@db/cardlink?sslmode=require'],
    ['postgresql://u:p@ss/w?rd#x@db/cardlink', 'postgresql://u:REDACTED@db/cardlink'],
    ['postgres://u@db/cardlink', 'postgres://u@db/cardlink'],
    ['postgres://db:5432/cardlink', 'postgres://db:5432/cardlink'],
    ['postgres://:secret@db/x', 'postgres://:REDACTED@db/x'],
    ['postgres://db/cardlink?user=u&password=s3cr3t&sslmode=require', 'postgres://db/cardlink?user=u&password=REDACTED&sslmode=require'],
    ['postgres://db/cardlink?password=s3cr3t', 'postgres://db/cardlink?password=REDACTED'],
    ['postgres://db/x?sslpassword=k3y&sslmode=verify-full', 'postgres://db/x?sslpassword=REDACTED&sslmode=verify-full'],
    ['host=db port=5432 user=cardlink password=s3cr3t dbname=cardlink', 'host=db port=5432 user=cardlink password=REDACTED dbname=cardlink'],
    ["host=db password = 'a b\\'c' dbname=x", 'host=db password = REDACTED dbname=x'],
    ['PASSWORD=abc', 'PASSWORD=REDACTED'],
    ['Server=db;User Id=u;Password=se;cret;Database=d', 'Server=db;User Id=u;Password=REDACTED;Database=d'],
    ['Server=db;Pwd="a;b";Database=d', 'Server=db;Pwd=REDACTED;Database=d'],
    ['host=db passfile=/home/u/.pgpass', 'host=db passfile=/home/u/.pgpass'],
    ['host=db password= dbname=x', 'host=db password= REDACTED'], // libpq skips blanks after `=`
    ['host=db password=\'\' dbname=x', 'host=db password=REDACTED dbname=x'],
    ['mypassword=x', 'mypassword=x'],
    ['', ''],
  ];
  for (const [input, expected] of cases) t.equal(redactConnectionString(input), expected, input);
  t.equal(redactConnectionString(undefined as unknown as string), '');
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Characters no template below contains: their presence in the output means a literal leaked. */
const MARKERS = ['Ω', 'Ж', '€', 'ß', '😀'];
const tricky = ["'", '"', '\\', '$', '-', '/', '*', '\n', ' ', 'a', '1', '?', ':', '(', ')', ';', '--', '/*', '*/', 'x'];
const content = fc
  .array(fc.constantFrom(...MARKERS, ...tricky), { maxLength: 12 })
  .map((parts) => MARKERS[parts.length % MARKERS.length] + parts.join(''));

const literal = fc.oneof(
  content.map((v) => `'${v.replace(/'/g, "''")}'`),
  content.map((v) => `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`),
  content.filter((v) => !v.includes('$$') && !v.endsWith('$')).map((v) => `$$${v}$$`),
  content.filter((v) => !v.includes('$q$') && !v.endsWith('$q') && !v.endsWith('$')).map((v) => `$q$${v}$q$`),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => `X'${Buffer.from(b).toString('hex').toUpperCase()}'`),
  fc.nat().map((n) => String(n)),
  fc.nat().map((n) => `-${n}`),
  fc.tuple(fc.nat(), fc.nat(999)).map(([a, b]) => `${a}.${b}`),
  fc.tuple(fc.nat(99), fc.nat(99), fc.boolean()).map(([a, b, neg]) => `${a}.${b}e${neg ? '-' : '+'}${b}`),
  fc.nat(999).map((n) => `.${n}`),
  fc.nat().map((n) => `0x${n.toString(16)}`),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(d)),
  fc.constantFrom('TRUE', 'FALSE', 'true'),
);

type Template = (l: readonly string[]) => string;
const templates: Template[] = [
  (l) => `SELECT id, name FROM users WHERE name = ${l[0]} AND age > ${l[1]}`,
  (l) => `INSERT INTO sessions (a, b, c) VALUES (${l[0]}, ${l[1]}, ${l[2]}) RETURNING id`,
  (l) => `UPDATE cards SET ki = ${l[0]} WHERE iccid IN (${l[1]}, ${l[2]})`,
  // Literal text inside comments must stay inside them (no newline in `--`, no `*` in `/* */`).
  (l) => `DELETE FROM log WHERE ts < ${l[0]} -- purge ${l[1]?.replace(/[\r\n]/g, ' ')}\n AND kind = ${l[2]}`,
  (l) => `WITH x AS (SELECT ${l[0]} AS v) SELECT v FROM x WHERE v <> ${l[1]} /* ${l[2]?.replace(/\*/g, '+')} */`,
  // `a-${lit}` would turn a negative literal into a `--` comment: real SQL needs the blank too.
  (l) => `select a - ${l[0]}, b*${l[1]}, (${l[2]}) from t where c=${l[0]}`,
  (l) => `SELECT * FROM t WHERE a = ${l[0]};INSERT INTO t VALUES (${l[1]},${l[2]})`,
];

t.test('property: no literal of the input reaches the sanitised text', async (t) => {
  fc.assert(
    fc.property(fc.nat(templates.length - 1), fc.array(literal, { minLength: 3, maxLength: 3 }), (k, lits) => {
      const sql = (templates[k] as Template)(lits);
      const out = sanitizeSql(sql);
      if (out.includes("'")) return false;
      if (/[0-9]/.test(out)) return false;
      if (/true|false/i.test(out)) return false;
      for (const m of MARKERS) if (out.includes(m)) return false;
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass('no literal leaked');
});

t.test('property: identifiers with digits are never mangled', async (t) => {
  const ident = fc.tuple(fc.constantFrom('a', 'col', 't', 'x_', 'iccid'), fc.nat(999)).map(([a, n]) => `${a}${n}`);
  fc.assert(
    fc.property(fc.array(ident, { minLength: 1, maxLength: 5 }), ident, (cols, table) => {
      const out = sanitizeSql(`SELECT ${cols.join(', ')} FROM ${table} WHERE ${cols[0]} = 1`);
      return out === `SELECT ${cols.join(', ')} FROM ${table} WHERE ${cols[0]} = ?` && mainTable(out) === table;
    }),
    { numRuns: 500 },
  );
  t.pass('identifiers kept');
});

t.test('property: random text never throws, bounded output, bounded type domain', async (t) => {
  const types = new Set<string>(QUERY_TYPES);
  const sqlish = fc
    .array(fc.constantFrom('SELECT', 'WITH', 'RECURSIVE', 'AS', '(', ')', ',', "'", '"', '`', '[', ']', '$$', '$a$', '--', '/*', '*/', '\n', ' ', 'FROM', 'x', '1', '-', 'E', "X'", '?', ':', 'INSERT', 'INTO', ';', 'MATERIALIZED', 'NOT'), { maxLength: 40 })
    .map((p) => p.join(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 200 }), sqlish), fc.integer({ min: 16, max: 400 }), (s, max) => {
      const c = classifySql(s, max);
      if (!types.has(c.queryType) || !types.has(queryType(s))) return false;
      if (c.sanitized.length > max) return false;
      if (c.table !== undefined && !/^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,2}$/.test(c.table)) return false;
      redactConnectionString(s);
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass('never threw');
});

t.test('property: redactConnectionString never leaves the password', async (t) => {
  // Templates use lower-case letters only; passwords always hold upper-case letters or digits, so
  // any upper-case letter or digit left outside the REDACTED marks is a leak.
  const low = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 1, maxLength: 8 });
  const special = fc.constantFrom('@', ':', '/', '?', '#', '&', ';', '=', ' ', "'", '"', '\\', '%', '!', '~');
  const password = fc
    .array(fc.oneof(fc.constantFrom(...'ABCXYZ0123456789'), special), { minLength: 1, maxLength: 16 })
    .map((p) => 'P' + p.join('') + '9');
  const safePassword = password.map((p) => p.replace(/[\s;&#'"\\]/g, 'Q'));
  const forms = [
    (u: string, p: string, h: string, d: string) => `postgres://${u}:${encodeURIComponent(p)}@${h}/${d}`,
    (u: string, p: string, h: string, d: string) => `postgresql://${u}:${p}@${h}/${d}?sslmode=require`,
    (u: string, p: string, h: string, d: string) => `postgres://${h}/${d}?user=${u}&password=${encodeURIComponent(p)}&sslmode=require`,
    (u: string, p: string, h: string, d: string) => `host=${h} user=${u} password='${p.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' dbname=${d}`,
    (u: string, p: string, h: string, d: string) => `server=${h};user id=${u};password="${p.replace(/"/g, '""')}";database=${d}`,
  ];
  const plainForms = [
    (u: string, p: string, h: string, d: string) => `host=${h} user=${u} password=${p} dbname=${d}`,
    (u: string, p: string, h: string, d: string) => `server=${h};user id=${u};pwd=${p};database=${d}`,
  ];
  const leaks = (out: string) => /[A-Z0-9]/.test(out.replaceAll('REDACTED', ''));
  fc.assert(
    fc.property(low, password, low, low, fc.nat(forms.length - 1), (u, p, h, d, k) => !leaks(redactConnectionString(forms[k]!(u, p, h, d)))),
    { numRuns: 1500 },
  );
  fc.assert(
    fc.property(low, safePassword, low, low, fc.nat(plainForms.length - 1), (u, p, h, d, k) => !leaks(redactConnectionString(plainForms[k]!(u, p, h, d)))),
    { numRuns: 500 },
  );
  t.pass('no password left');
});

t.test('WITH: the statement after the CTE list decides, not a sub-select inside it', async (t) => {
  // PostgreSQL's with.sql (bug #4902): VALUES holding a sub-select was taken for a SELECT.
  t.equal(queryType('with cte(foo) as ( values(42) ) values((select foo from cte));'), 'OTHER');
  t.equal(mainTable('with cte(foo) as ( values(42) ) values((select foo from cte));'), undefined);
  t.equal(queryType('WITH t AS (INSERT INTO y VALUES(0)) VALUES(FALSE);'), 'OTHER');
  t.equal(queryType("WITH c AS (SELECT 1 a) MERGE INTO m USING (select 0 k, 'v' v) o ON m.k=o.k WHEN MATCHED THEN DELETE"), 'OTHER');
  t.equal(queryType('with cte(foo) as ( select 42 ) select * from ((select foo from cte)) q;'), 'SELECT');
  t.equal(queryType('WITH x AS (SELECT 1)(((SELECT * FROM x)))'), 'SELECT');
});

t.test('WITH: PostgreSQL SEARCH and CYCLE clauses with column lists and mark values', async (t) => {
  const body = 'with recursive g(f, t) as (select * from e union all select e.* from e, g where e.f = g.t)';
  const cases: Array<[string, string]> = [
    [`${body} search depth first by f, t set seq select * from g order by seq`, 'SELECT'],
    [`${body} search breadth first by f, t set seq\n  cycle f, t set is_cycle using path select * from g`, 'SELECT'],
    [`${body} cycle f, t set is_cycle to 'Y' default 'N' using path select * from g`, 'SELECT'],
    [`${body} cycle f, t set c to point '(1,1)' default point '(0,0)' using p delete from g`, 'DELETE'],
    [`${body} cycle f set c to true default false using p, h(x) as (select 1) insert into h2 select * from g`, 'INSERT'],
    [`${body} cycle f set c using p values (1)`, 'OTHER'],
    [`${body} cycle f, t set c to 'Y' default 'N' select * from g`, 'OTHER'], // no USING: not a CTE list
  ];
  for (const [sql, type] of cases) t.equal(queryType(sql), type, sql);
  t.equal(mainTable(cases[2]![0]), 'g');
  t.equal(mainTable(cases[4]![0]), 'h2');
  t.equal(sanitizeSql(cases[2]![0]).includes("'Y'"), false);
});

t.test('CREATE VIRTUAL TABLE names its table (SQLite fts5, rtree, csv)', async (t) => {
  t.equal(mainTable('CREATE VIRTUAL TABLE t1 USING fts5(a, b, c);'), 't1');
  t.equal(mainTable("CREATE VIRTUAL TABLE IF NOT EXISTS temp.t1 USING csv(filename='x.csv')"), 'temp.t1');
  t.equal(mainTable('create virtual table "docs" using rtree(id, x0, x1)'), 'docs');
  t.same(classifySql("CREATE VIRTUAL TABLE abc USING csv(data='1,2,3')"), {
    queryType: 'CREATE',
    table: 'abc',
    sanitized: 'CREATE VIRTUAL TABLE abc USING csv(data=?)',
  });
  t.equal(mainTable('CREATE VIRTUAL INDEX i ON t(a)'), undefined);
});

t.test('block comments: PostgreSQL nesting is removed whole, SQLite comments end at the first */', async (t) => {
  // PostgreSQL's comments.sql: the text inside the inner comments used to survive.
  const nested = "SELECT /* a /* b 'x' */ inner secret */ 1 AS n, /* one /* two /* three */ deep */ still */ 'v'";
  t.equal(sanitizeSql(nested), 'SELECT ? AS n, ?');
  t.equal(queryType('/* a /* b */ c */ SELECT 1'), 'SELECT');
  t.equal(mainTable('/* a /* b */ c */ DELETE FROM t'), 't');
  // A nested reading that never closes is a PostgreSQL error: the text is SQLite's.
  t.equal(sanitizeSql("/* a /* b */ SELECT x FROM t WHERE y = 'z'"), 'SELECT x FROM t WHERE y = ?');
  t.equal(queryType('/* a /* b */ UPDATE t SET x = 1'), 'UPDATE');
  // Once one nested reading failed, the rest of the text is read flat too.
  t.equal(sanitizeSql('/* /* */ SELECT a /* /* */ , b */ 2 FROM t'), 'SELECT a , b */ ? FROM t');
  // Both readings close, at different places, with a quote between: where the literal starts
  // depends on the dialect, so the output stops at the comment.
  t.equal(sanitizeSql("SELECT 1 /* /* */ ' */ secret '"), 'SELECT ?' + TRUNCATION_MARK);
  t.equal(sanitizeSql('SELECT 1 /* /* */ -- */ secret\n'), 'SELECT ?' + TRUNCATION_MARK);
  // Many SQLite comments holding `/*` stay right (and are read flat after the first).
  const many = 'SELECT a' + ' /* x /* y */ , b'.repeat(2000) + " FROM t WHERE c = 'd'";
  t.equal(sanitizeSql(many, MAX_SQL_SCAN), 'SELECT a' + ' , b'.repeat(2000) + ' FROM t WHERE c = ?');
});

t.test('sanitizeSql: a setting\'s value is hidden however it is written (SET, ALTER ... SET, PRAGMA)', async (t) => {
  const cases: Array<[string, string]> = [
    ['SET app.api_key = "hunter2-token"', 'SET app.api_key = ?'],
    ['SET x TO hunter2token', 'SET x TO ?'],
    ['set local app.key to "k1", k2', 'set local app.key to ?, ?'],
    ['ALTER ROLE r SET app.secret = "hunter2"', 'ALTER ROLE r SET app.secret = ?'],
    ['ALTER DATABASE d SET app.secret TO hunter2', 'ALTER DATABASE d SET app.secret TO ?'],
    // SQLCipher's keys, as a string, a quoted name or a bare word.
    ['PRAGMA key = "hunter2"', 'PRAGMA key = ?'],
    ['PRAGMA key = hunter2', 'PRAGMA key = ?'],
    [`PRAGMA hexkey = "${'ab'.repeat(32)}"`, 'PRAGMA hexkey = ?'],
    ['PRAGMA rekey("x")', 'PRAGMA rekey(?)'],
    ['PRAGMA journal_mode = WAL; SELECT a FROM t', 'PRAGMA journal_mode = ?; SELECT a FROM t'],
    // Elsewhere names stay names.
    ['UPDATE t SET a = b WHERE "c" = 1', 'UPDATE t SET a = b WHERE "c" = ?'],
    ['PRAGMA table_info', 'PRAGMA table_info'],
  ];
  for (const [sql, expected] of cases) t.equal(sanitizeSql(sql), expected, sql);
});

t.test('mainTable: IS DISTINCT FROM compares, ROWS FROM calls functions', async (t) => {
  t.equal(mainTable('SELECT a IS DISTINCT FROM b AS changed FROM ota_sessions'), 'ota_sessions');
  t.equal(mainTable('SELECT a IS NOT DISTINCT FROM NULL FROM ota_sessions WHERE x'), 'ota_sessions');
  t.equal(mainTable('SELECT * FROM ROWS FROM (f(), g()) AS r'), undefined);
});

t.test('sanitizeSql: PostgreSQL\'s 1$$ is a number and a dollar quote; [[[...] is bounded', async (t) => {
  t.equal(sanitizeSql('SELECT 1$$ hunter2$$'), 'SELECT ??');
  // 64 KiB of `[` before one `]`: the output stays bounded.
  const text = `SELECT a${'['.repeat(65536)}] FROM t`;
  const start = process.hrtime.bigint();
  const out = sanitizeSql(text, 2048);
  t.ok(out.length <= 2048);
  t.comment(`${Number(process.hrtime.bigint() - start) / 1e6} ms`);
});

t.test('sanitizeSql: a string whose end depends on backslash escaping stops the output', async (t) => {
  // PostgreSQL's strings.sql with standard_conforming_strings = off: 'a\\b\'cd' is one string there.
  const off = "select 'a\\\\bcd' as f1, 'a\\\\b\\'cd' as f2, 'ab\\\\\\'cd' as f5";
  t.equal(sanitizeSql(off), 'select ? as f1, ?' + TRUNCATION_MARK);
  t.equal(sanitizeSql("SELECT 'it\\'s secret' FROM t"), 'SELECT ?' + TRUNCATION_MARK);
  // Backslashes that do not move the end change nothing.
  t.equal(sanitizeSql("SELECT * FROM t WHERE a LIKE 'x\\_%' AND b = 'c:\\dir\\f'"), 'SELECT * FROM t WHERE a LIKE ? AND b = ?');
  // An E'' string whose end moves with its escapes: in SQLite `E` is a column and '...' a plain string.
  t.equal(sanitizeSql("SELECT E'it\\'s', 'plain' FROM t"), 'SELECT ?' + TRUNCATION_MARK);
  t.equal(sanitizeSql("SELECT e'C:\\' , 'hunter2-literal' FROM t"), 'SELECT ?' + TRUNCATION_MARK);
  t.equal(sanitizeSql("SELECT E'line\\nbreak', 'plain' FROM t"), 'SELECT ?, ? FROM t', 'escapes that do not move the end change nothing');
  t.equal(queryType("SELECT 'it\\'s secret' FROM t"), 'SELECT');
});
