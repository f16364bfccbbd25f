/**
 * Pure SQL classifier and sanitiser for the database instrumentations (better-sqlite3, pg):
 * the bounded `query_type` label, the main table for span names, a literal-free statement text
 * for `db.query.text`, and password removal from connection strings.
 * No OpenTelemetry, no I/O, never throws, reads at most MAX_SQL_SCAN characters of any text.
 *
 * Decisions worth knowing (the tests pin each one):
 *
 * - query_type is the first keyword after whitespace, `--` and `/* *\/` comments, `(` and empty
 *   `;` statements, upper-cased, in the closed domain QUERY_TYPES. Synonyms fold into it:
 *   `REPLACE` -> INSERT (SQLite's `INSERT OR REPLACE`), `START TRANSACTION` -> BEGIN,
 *   `END [TRANSACTION]` -> COMMIT (SQLite and PostgreSQL), `ABORT` -> ROLLBACK (PostgreSQL);
 *   `ROLLBACK TO SAVEPOINT` stays ROLLBACK (its first keyword). `SAVEPOINT`, `RELEASE`, `EXPLAIN`,
 *   `VACUUM`, `SET`, `SHOW`, `COPY`, `TRUNCATE`, `VALUES` ... are OTHER.
 * - `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (...) [, ...]` is skipped (strings,
 *   comments, dollar quotes and nested parentheses inside the bodies understood, PostgreSQL's
 *   `SEARCH ... SET col` / `CYCLE ... USING col` clauses skipped) and the statement after it
 *   decides: SELECT, INSERT (also REPLACE), UPDATE or DELETE; anything else (`VALUES`, `MERGE`,
 *   whatever sub-select they hold), or a CTE list that does not parse, is OTHER.
 * - A multi-statement string is classified by its first statement.
 * - Main table: `SELECT ... FROM t` (the first table after the first top-level FROM, so for joins
 *   the left-most table; a subquery or table function there gives none), `INSERT [OR x] INTO t`,
 *   `REPLACE INTO t`, `UPDATE [OR x] [ONLY] t`, `DELETE FROM [ONLY] t`, `CREATE [TEMP... |
 *   VIRTUAL] TABLE [IF NOT EXISTS] t`, `DROP TABLE [IF EXISTS] t`, `ALTER TABLE [IF EXISTS]
 *   [ONLY] t`. Quoted
 *   parts ("x", `x`, [x]) are unquoted; qualified names keep their dots (`main.t`). Each part must
 *   be 1..64 characters of [A-Za-z0-9_$-] (and start with a letter or `_` when unquoted), else no
 *   table is reported. After a `WITH` prefix the table may be a CTE name.
 * - Sanitising replaces every literal by `?`: '...' strings (with '' escapes), E'...' (backslash
 *   escapes), X'..' / B'..' / N'..' / U&'..', $$...$$ and $tag$...$tag$, numbers (decimal, 1.5e-3,
 *   .5, 0x1F, 1_000, and a number glued to letters such as 0b101), TRUE/FALSE; a minus sign in
 *   prefix position is folded into its number (`x = -5` -> `x = ?`, `a - 5` -> `a - ?`). NULL,
 *   identifiers (`col1`, `t2`, "quoted", `backticked`) and placeholders (`?`, `?1`, `$1`, `:name`,
 *   `@name`, `$name`) are kept. Comments are dropped, whitespace runs become one space,
 *   `IN (?, ?, ?)` becomes `IN (?)`. Output is at most `maxLength` characters; when the input was
 *   longer than MAX_SQL_SCAN or the output had to be cut it ends with `…`.
 *   Strings follow the standard (and SQLite / PostgreSQL default) rule that a backslash is an
 *   ordinary character outside E'...'; a '...' string that would end elsewhere if a backslash
 *   escaped its quote (PostgreSQL with standard_conforming_strings off) ends the output there,
 *   with `…`, as nothing after it can be told apart from a literal. Double quotes always delimit
 *   identifiers, as in PostgreSQL and in better-sqlite3 (built with SQLITE_DQS=0).
 * - Block comments nest, as in PostgreSQL, when the nested reading closes; otherwise (SQLite) a
 *   comment ends at the first `*\/`. When both readings close at different places and the text
 *   between them could open a string, quoted name or comment, the output ends at the comment
 *   with `…`.
 * - `redactConnectionString` replaces with `REDACTED`: the password of URL userinfo
 *   (`scheme://user:PASSWORD@host`, taking the LAST `@` so unencoded `@ / ? #` in a password cannot
 *   leak it; a stray `@` later in the URL costs over-redaction, never a leak) and the value of
 *   `password` / `passwd` / `pwd` / `pass` / `sslpassword` keys in libpq `key=value` strings,
 *   `;`-separated strings and URL query parameters (quoted values included).
 */

export const QUERY_TYPES = Object.freeze([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'CREATE',
  'ALTER',
  'DROP',
  'PRAGMA',
  'OTHER',
] as const);

export type QueryType = (typeof QUERY_TYPES)[number];

/** Characters of any SQL text that are ever looked at. */
export const MAX_SQL_SCAN = 64 * 1024;
/** Default bound of the sanitised text. */
export const DEFAULT_SANITIZED_LENGTH = 2048;
/** Longest identifier part reported as a table. */
export const MAX_IDENTIFIER = 64;
/** Appended when the sanitised text is incomplete. */
export const TRUNCATION_MARK = '…';

export interface SqlSummary {
  queryType: QueryType;
  /** Main table when simple (see module notes). */
  table?: string;
  /** Literal-free text (see module notes). */
  sanitized: string;
}

// ---------------------------------------------------------------------------------------------
// Character classes and lexical skips. All take the (already bounded) text and an index and
// return the index after the construct; none allocates.

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Start of an unquoted identifier or keyword. Non-ASCII counts (PostgreSQL allows it). */
function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === 0x24;
}

function wordEnd(s: string, i: number): number {
  const n = s.length;
  while (i < n && isIdentChar(s.charCodeAt(i))) i++;
  return i;
}

/** Case-insensitive comparison of s[start, end) with an upper-case ASCII keyword. */
function wordIs(s: string, start: number, end: number, kw: string): boolean {
  if (end - start !== kw.length) return false;
  for (let k = 0; k < kw.length; k++) {
    const c = s.charCodeAt(start + k);
    if (c > 0x7a || (c & 0xdf) !== kw.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Set by `bounded` (the start of every public call): a nested reading of a block comment did
 * not close, so the text is not PostgreSQL and its comments end at the first `*\/` (SQLite).
 */
let flatComments = false;
/** Set (never cleared) by blockCommentEnd when the two readings of a comment disagree unsafely. */
let commentAmbiguous = false;

/** Whether s[from, to) holds a character that starts a string, quoted name or line comment. */
function holdsQuoteOrLineComment(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x27 || c === 0x22 || c === 0x60 || c === 0x24 || c === 0x5b) return true;
    if (c === 0x2d && s.charCodeAt(k + 1) === 0x2d) return true;
  }
  return false;
}

/**
 * At `/*`: the index after the comment. PostgreSQL nests block comments, SQLite ends one at the
 * first `*\/`. The nested reading is taken when it closes (a nested comment that never closes is
 * an error in PostgreSQL, so the text is SQLite's); `commentAmbiguous` is set when the text
 * between both ends could open a string or comment in the flat reading, so neither is safe.
 */
function blockCommentEnd(s: string, i: number): number {
  const first = s.indexOf('*/', i + 2);
  if (first < 0) return s.length;
  const flatEnd = first + 2;
  if (flatComments) return flatEnd;
  const inner = s.indexOf('/*', i + 2);
  if (inner < 0 || inner >= first) return flatEnd; // the common case: nothing nested
  const n = s.length;
  let depth = 1;
  let k = i + 2;
  while (k < n - 1) {
    const a = s.charCodeAt(k);
    const b = s.charCodeAt(k + 1);
    if (a === 0x2f && b === 0x2a) {
      depth++;
      k += 2;
    } else if (a === 0x2a && b === 0x2f) {
      k += 2;
      if (--depth === 0) {
        if (holdsQuoteOrLineComment(s, flatEnd, k)) commentAmbiguous = true;
        return k;
      }
    } else {
      k++;
    }
  }
  flatComments = true; // one full scan per text at most
  return flatEnd;
}

/** Skips whitespace (and other control characters) and comments. */
function skipTrivia(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) {
      i++;
    } else if (c === 0x2d && s.charCodeAt(i + 1) === 0x2d) {
      const nl = s.indexOf('\n', i + 2);
      i = nl < 0 ? n : nl + 1;
    } else if (c === 0x2f && s.charCodeAt(i + 1) === 0x2a) {
      i = blockCommentEnd(s, i);
    } else {
      break;
    }
  }
  return i;
}

/**
 * At a quote (' " ` or [): index after the closing quote (a doubled quote is an escaped one,
 * `backslash` makes `\x` an escape as in E'...'), or -1 when it does not close.
 */
function quotedEnd(s: string, i: number, backslash: boolean): number {
  const open = s.charCodeAt(i);
  const close = open === 0x5b ? 0x5d : open;
  const n = s.length;
  let j = i + 1;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (backslash && c === 0x5c) {
      j += 2;
      continue;
    }
    if (c === close) {
      if (close !== 0x5d && s.charCodeAt(j + 1) === close) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return -1;
}

/**
 * At `$`: when it opens a dollar quote ($$ or $tag$), the index after its closing delimiter
 * (s.length when unterminated); -1 when it is something else ($1, $name, a `$` operator).
 */
function dollarQuoteEnd(s: string, i: number): number {
  let k = i + 1;
  const first = s.charCodeAt(k);
  if (first !== 0x24) {
    if (!isIdentStart(first)) return -1;
    k++;
    while (k < s.length) {
      const c = s.charCodeAt(k);
      if (!(isIdentStart(c) || isDigit(c))) break;
      k++;
    }
    if (s.charCodeAt(k) !== 0x24) return -1;
  }
  const tag = s.slice(i, k + 1);
  const close = s.indexOf(tag, k + 1);
  return close < 0 ? s.length : close + tag.length;
}

/** Whether the `'` at i is preceded by a lone E/e (an escape string). */
function isEscapeStringQuote(s: string, i: number): boolean {
  if (i < 1) return false;
  const p = s.charCodeAt(i - 1);
  if (p !== 0x45 && p !== 0x65) return false;
  return i < 2 || !isIdentChar(s.charCodeAt(i - 2));
}

/** At `(`: the index after its matching `)`, skipping strings, comments and quotes; -1 if none. */
function parenEnd(s: string, i: number): number {
  const n = s.length;
  let depth = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x28) {
      depth++;
      i++;
    } else if (c === 0x29) {
      depth--;
      i++;
      if (depth === 0) return i;
    } else if (c === 0x27 || c === 0x22 || c === 0x60) {
      const j = quotedEnd(s, i, c === 0x27 && isEscapeStringQuote(s, i));
      if (j < 0) return -1;
      i = j;
    } else if (c === 0x24) {
      const j = dollarQuoteEnd(s, i);
      i = j < 0 ? i + 1 : j;
    } else if ((c === 0x2d && s.charCodeAt(i + 1) === 0x2d) || (c === 0x2f && s.charCodeAt(i + 1) === 0x2a)) {
      i = skipTrivia(s, i);
    } else if (isIdentStart(c)) {
      i = wordEnd(s, i); // so `$` inside identifiers is not taken for a dollar quote
    } else {
      i++;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Statement type

/** Position of the main statement keyword found by the last `detect` call (no allocation). */
let detectedAt = 0;
let detectedEnd = 0;

/** Type of the keyword s[start, end) (for START, the word after it decides). */
function keywordType(s: string, start: number, end: number): QueryType {
  switch (end - start) {
    case 3:
      if (wordIs(s, start, end, 'END')) return 'COMMIT';
      return 'OTHER';
    case 4:
      if (wordIs(s, start, end, 'DROP')) return 'DROP';
      return 'OTHER';
    case 5:
      if (wordIs(s, start, end, 'BEGIN')) return 'BEGIN';
      if (wordIs(s, start, end, 'ALTER')) return 'ALTER';
      if (wordIs(s, start, end, 'ABORT')) return 'ROLLBACK';
      if (wordIs(s, start, end, 'START')) {
        const k = skipTrivia(s, end);
        return wordIs(s, k, wordEnd(s, k), 'TRANSACTION') ? 'BEGIN' : 'OTHER';
      }
      return 'OTHER';
    case 6:
      if (wordIs(s, start, end, 'SELECT')) return 'SELECT';
      if (wordIs(s, start, end, 'INSERT')) return 'INSERT';
      if (wordIs(s, start, end, 'UPDATE')) return 'UPDATE';
      if (wordIs(s, start, end, 'DELETE')) return 'DELETE';
      if (wordIs(s, start, end, 'COMMIT')) return 'COMMIT';
      if (wordIs(s, start, end, 'CREATE')) return 'CREATE';
      if (wordIs(s, start, end, 'PRAGMA')) return 'PRAGMA';
      return 'OTHER';
    case 7:
      if (wordIs(s, start, end, 'REPLACE')) return 'INSERT';
      return 'OTHER';
    case 8:
      if (wordIs(s, start, end, 'ROLLBACK')) return 'ROLLBACK';
      return 'OTHER';
    default:
      return 'OTHER';
  }
}

/** Skips `(`, `;` and trivia before a statement. */
function skipStatementLead(s: string, i: number): number {
  for (;;) {
    i = skipTrivia(s, i);
    const c = s.charCodeAt(i);
    if (c !== 0x28 && c !== 0x3b) return i;
    i++;
  }
}

/** Reads an identifier (unquoted or quoted) at i; index after it, or -1. */
function identifierEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x60 || c === 0x5b) return quotedEnd(s, i, false);
  if (!isIdentStart(c)) return -1;
  return wordEnd(s, i);
}

/**
 * After a CTE body: skips PostgreSQL's `SEARCH {DEPTH|BREADTH} FIRST BY cols SET col` and
 * `CYCLE cols SET col [TO value DEFAULT value] USING col`; the index after them, or -1.
 */
function skipSearchCycle(s: string, i: number): number {
  for (let clause = 0; clause < 2; clause++) {
    let w = wordEnd(s, i);
    const last = wordIs(s, i, w, 'SEARCH') ? 'SET' : wordIs(s, i, w, 'CYCLE') ? 'USING' : '';
    if (last === '') return i;
    i = skipTrivia(s, w);
    for (let guard = 0; ; guard++) {
      if (guard > 256 || i >= s.length) return -1;
      const c = s.charCodeAt(i);
      if (isIdentStart(c)) {
        w = wordEnd(s, i);
        const done = wordIs(s, i, w, last);
        i = skipTrivia(s, w);
        if (done) break;
      } else if (c === 0x27 || c === 0x22) {
        const e = quotedEnd(s, i, c === 0x27 && isEscapeStringQuote(s, i));
        if (e < 0) return -1;
        i = skipTrivia(s, e);
      } else if (c === 0x28) {
        const e = parenEnd(s, i);
        if (e < 0) return -1;
        i = skipTrivia(s, e);
      } else {
        i = skipTrivia(s, i + 1);
      }
    }
    const e = identifierEnd(s, i);
    if (e < 0) return -1;
    i = skipTrivia(s, e);
  }
  return i;
}

/** After `WITH`: index of the statement after the CTE list (`(` included), or -1. */
function skipCtes(s: string, i: number): number {
  i = skipTrivia(s, i);
  let w = wordEnd(s, i);
  if (wordIs(s, i, w, 'RECURSIVE')) i = skipTrivia(s, w);
  for (let guard = 0; guard < 1000; guard++) {
    const nameEnd = identifierEnd(s, i);
    if (nameEnd < 0) return -1;
    i = skipTrivia(s, nameEnd);
    if (s.charCodeAt(i) === 0x28) {
      const e = parenEnd(s, i); // column list
      if (e < 0) return -1;
      i = skipTrivia(s, e);
    }
    w = wordEnd(s, i);
    if (!wordIs(s, i, w, 'AS')) return -1;
    i = skipTrivia(s, w);
    w = wordEnd(s, i);
    if (wordIs(s, i, w, 'NOT')) {
      i = skipTrivia(s, w);
      w = wordEnd(s, i);
    }
    if (wordIs(s, i, w, 'MATERIALIZED')) i = skipTrivia(s, w);
    if (s.charCodeAt(i) !== 0x28) return -1;
    const bodyEnd = parenEnd(s, i);
    if (bodyEnd < 0) return -1;
    i = skipSearchCycle(s, skipTrivia(s, bodyEnd));
    if (i < 0) return -1;
    if (s.charCodeAt(i) !== 0x2c) return i; // the statement after the list decides
    i = skipTrivia(s, i + 1);
  }
  return -1;
}

/** Bounds text to MAX_SQL_SCAN (a cheap sliced view in V8 for long strings); starts a new text. */
function bounded(text: string): string {
  flatComments = false;
  return text.length > MAX_SQL_SCAN ? text.slice(0, MAX_SQL_SCAN) : text;
}

/** Classifies bounded text; sets detectedAt/detectedEnd to the deciding keyword. */
function detect(s: string): QueryType {
  const start = skipStatementLead(s, 0);
  const end = wordEnd(s, start);
  detectedAt = start;
  detectedEnd = end;
  if (end === start) return 'OTHER';
  if (!wordIs(s, start, end, 'WITH')) return keywordType(s, start, end);
  let k = skipCtes(s, end);
  if (k < 0) return 'OTHER';
  k = skipStatementLead(s, k);
  const kEnd = wordEnd(s, k);
  detectedAt = k;
  detectedEnd = kEnd;
  const t = keywordType(s, k, kEnd);
  return t === 'SELECT' || t === 'INSERT' || t === 'UPDATE' || t === 'DELETE' ? t : 'OTHER';
}

/**
 * The `query_type` label of a statement. Reads only up to the first keyword (allocation-free)
 * unless the statement starts with `WITH`.
 */
export function queryType(text: string): QueryType {
  if (typeof text !== 'string') return 'OTHER';
  return detect(bounded(text));
}

// ---------------------------------------------------------------------------------------------
// Main table

/** Safe identifier part: unquoted [A-Za-z_][A-Za-z0-9_$]*, quoted [A-Za-z0-9_$-]+, 1..64. */
function identPart(s: string, i: number): { value: string; end: number } | null {
  const c = s.charCodeAt(i);
  let from: number;
  let to: number;
  let end: number;
  if (c === 0x22 || c === 0x60 || c === 0x5b) {
    end = quotedEnd(s, i, false);
    if (end < 0) return null;
    from = i + 1;
    to = end - 1;
  } else {
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f)) return null;
    end = wordEnd(s, i);
    from = i;
    to = end;
  }
  if (to - from < 1 || to - from > MAX_IDENTIFIER) return null;
  for (let k = from; k < to; k++) {
    const d = s.charCodeAt(k);
    const ok = (d >= 0x61 && d <= 0x7a) || (d >= 0x41 && d <= 0x5a) || isDigit(d) || d === 0x5f || d === 0x24 || d === 0x2d;
    if (!ok) return null;
  }
  if (c !== 0x22 && c !== 0x60 && c !== 0x5b && s.charCodeAt(from) === 0x2d) return null;
  return { value: s.slice(from, to), end };
}

/**
 * A table reference at i: up to three dot-separated parts. `parenOk`: a `(` may follow (column
 * list); otherwise a `(` means a function call and no table.
 */
function tableAt(s: string, i: number, parenOk: boolean): string | undefined {
  i = skipTrivia(s, i);
  let name = '';
  for (let part = 0; part < 3; part++) {
    const p = identPart(s, i);
    if (p === null) return undefined;
    name = part === 0 ? p.value : name + '.' + p.value;
    i = skipTrivia(s, p.end);
    if (s.charCodeAt(i) !== 0x2e) break;
    if (part === 2) return undefined;
    i = skipTrivia(s, i + 1);
  }
  if (!parenOk && s.charCodeAt(i) === 0x28) return undefined;
  return name;
}

/** Skips the keyword `kw` at i (after trivia) if present; returns the new index. */
function optional(s: string, i: number, kw: string): number {
  const k = skipTrivia(s, i);
  const e = wordEnd(s, k);
  return wordIs(s, k, e, kw) ? e : i;
}

/** Index after keyword `kw` at i (after trivia), or -1. */
function required(s: string, i: number, kw: string): number {
  const k = skipTrivia(s, i);
  const e = wordEnd(s, k);
  return wordIs(s, k, e, kw) ? e : -1;
}

/** After `INSERT` / `UPDATE`: skips `OR <conflict>`. */
function skipOrClause(s: string, i: number): number {
  const k = required(s, i, 'OR');
  if (k < 0) return i;
  const w = skipTrivia(s, k);
  return wordEnd(s, w);
}

/** First table after the first top-level FROM of a SELECT starting at i. */
function selectTable(s: string, i: number): string | undefined {
  const n = s.length;
  let previous = -1; // the last word, s[previous, previousEnd)
  let previousEnd = -1;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x3b) return undefined;
    if (c === 0x28) {
      const e = parenEnd(s, i);
      if (e < 0) return undefined;
      i = e;
    } else if (c === 0x27 || c === 0x22 || c === 0x60) {
      const e = quotedEnd(s, i, c === 0x27 && isEscapeStringQuote(s, i));
      if (e < 0) return undefined;
      i = e;
    } else if (c === 0x24) {
      const e = dollarQuoteEnd(s, i);
      i = e < 0 ? i + 1 : e;
    } else if ((c === 0x2d && s.charCodeAt(i + 1) === 0x2d) || (c === 0x2f && s.charCodeAt(i + 1) === 0x2a)) {
      i = skipTrivia(s, i);
    } else if (isIdentStart(c)) {
      const e = wordEnd(s, i);
      // `a IS [NOT] DISTINCT FROM b` compares: its FROM names no table.
      if (wordIs(s, i, e, 'FROM') && !(previous >= 0 && wordIs(s, previous, previousEnd, 'DISTINCT'))) {
        let k = skipTrivia(s, e);
        k = optional(s, k, 'ONLY');
        // `FROM ROWS FROM (f(), g())`: functions, no table.
        const r = wordEnd(s, k);
        if (wordIs(s, k, r, 'ROWS') && wordIs(s, skipTrivia(s, r), wordEnd(s, skipTrivia(s, r)), 'FROM')) return undefined;
        return tableAt(s, k, false);
      }
      previous = i;
      previousEnd = e;
      i = e;
    } else {
      i++;
    }
  }
  return undefined;
}

const TABLE_MODIFIERS: readonly string[] = ['TEMP', 'TEMPORARY', 'UNLOGGED', 'GLOBAL', 'LOCAL', 'VIRTUAL'];

function tableOf(s: string, type: QueryType, at: number, kwEnd: number): string | undefined {
  let i = kwEnd;
  switch (type) {
    case 'SELECT':
      return selectTable(s, kwEnd);
    case 'INSERT':
      if (wordIs(s, at, kwEnd, 'INSERT')) i = skipOrClause(s, i);
      i = required(s, i, 'INTO');
      return i < 0 ? undefined : tableAt(s, i, true);
    case 'UPDATE':
      i = skipOrClause(s, i);
      return tableAt(s, optional(s, i, 'ONLY'), false);
    case 'DELETE':
      i = required(s, i, 'FROM');
      return i < 0 ? undefined : tableAt(s, optional(s, i, 'ONLY'), false);
    case 'CREATE':
      // CREATE [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED] TABLE, CREATE VIRTUAL TABLE (SQLite)
      for (let k = 0; k < 2; k++) {
        const w = skipTrivia(s, i);
        const e = wordEnd(s, w);
        if (!TABLE_MODIFIERS.some((m) => wordIs(s, w, e, m))) break;
        i = e;
      }
      i = required(s, i, 'TABLE');
      if (i < 0) return undefined;
      {
        const k = required(s, i, 'IF');
        if (k >= 0) {
          const k2 = required(s, k, 'NOT');
          const k3 = k2 < 0 ? -1 : required(s, k2, 'EXISTS');
          if (k3 < 0) return undefined;
          i = k3;
        }
      }
      return tableAt(s, i, true);
    case 'DROP':
    case 'ALTER': {
      i = required(s, i, 'TABLE');
      if (i < 0) return undefined;
      const k = required(s, i, 'IF');
      if (k >= 0) {
        const k2 = required(s, k, 'EXISTS');
        if (k2 < 0) return undefined;
        i = k2;
      }
      if (type === 'ALTER') i = optional(s, i, 'ONLY');
      return tableAt(s, i, false);
    }
    default:
      return undefined;
  }
}

/** The main table of a statement when it is simple (see module notes). */
export function mainTable(text: string): string | undefined {
  if (typeof text !== 'string') return undefined;
  const s = bounded(text);
  const type = detect(s);
  return tableOf(s, type, detectedAt, detectedEnd);
}

// ---------------------------------------------------------------------------------------------
// Sanitising

/** Words after which a `-` followed by a digit is a sign, not a subtraction. */
const PREFIX_WORDS: ReadonlySet<string> = new Set([
  'SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'ON', 'BY', 'SET', 'VALUES', 'WHEN', 'THEN', 'ELSE',
  'RETURN', 'LIMIT', 'OFFSET', 'IN', 'IS', 'BETWEEN', 'CASE', 'HAVING', 'LIKE', 'AS', 'DEFAULT',
]);

/** End of a numeric literal starting at i (digit or `.digit`). */
function numberEnd(s: string, i: number): number {
  const n = s.length;
  let j = i;
  if (s.charCodeAt(j) === 0x30 && (s.charCodeAt(j + 1) | 0x20) === 0x78) {
    j += 2;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (!(isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) || c === 0x5f)) break;
      j++;
    }
  } else {
    while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
    if (s.charCodeAt(j) === 0x2e) {
      j++;
      while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
    }
    if ((s.charCodeAt(j) | 0x20) === 0x65) {
      let k = j + 1;
      const sign = s.charCodeAt(k);
      if (sign === 0x2b || sign === 0x2d) k++;
      if (isDigit(s.charCodeAt(k))) {
        j = k;
        while (j < n && isDigit(s.charCodeAt(j))) j++;
      }
    }
  }
  // Letters glued to a number (0b101, 0o17, 10abc) belong to the literal: nothing of it may show.
  // Not a `$`: in PostgreSQL `1$$` is a number and then a dollar quote.
  while (j < n && isIdentChar(s.charCodeAt(j)) && s.charCodeAt(j) !== 0x24) j++;
  return j;
}

function append(out: string, space: boolean, token: string): string {
  return space && out.length > 0 ? out + ' ' + token : out + token;
}

/** Whether a quoted identifier may be shown as is (bounded, no control characters). */
function isShowableQuoted(s: string, from: number, to: number): boolean {
  if (to - from > MAX_IDENTIFIER + 2) return false;
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

const IN_LIST = /\b(IN) ?\( ?\?(?: ?, ?\?)+ ?\)/gi;

/** The output bound actually used: a number below 16 (or NaN) is raised to 16, capped at MAX_SQL_SCAN. */
function clampLength(maxLength: number): number {
  if (typeof maxLength !== 'number') return DEFAULT_SANITIZED_LENGTH;
  if (!(maxLength >= 16)) return 16;
  return Math.min(Math.floor(maxLength), MAX_SQL_SCAN);
}

/**
 * At `[`: whether a quote stands before its `]` (then the dialect decides what it is). Asked at
 * increasing positions of one text: each `]`, and the last quote before it, is looked up once
 * (`[[[[...]` stays linear).
 */
class BracketScan {
  private close = -2;
  private lastQuote = -1;
  constructor(private readonly s: string) {}

  hasQuote(i: number): boolean {
    if (this.close === -1) return false;
    if (this.close <= i) {
      const s = this.s;
      this.close = s.indexOf(']', i + 1);
      this.lastQuote = -1;
      for (let j = this.close - 1; j > i; j--) {
        const c = s.charCodeAt(j);
        if (c === 0x27 || c === 0x22 || c === 0x60) {
          this.lastQuote = j;
          break;
        }
      }
    }
    return this.close > i && this.lastQuote > i;
  }
}

/**
 * At a `[` with a quote before its `]`: the index after that `]` when both readings end there (as
 * SQLite's identifier, and as PostgreSQL's subscript whose quoted parts all close before it),
 * else -1.
 */
function bracketEnd(s: string, i: number): number {
  const k = s.indexOf(']', i + 1);
  let j = i + 1;
  while (j < k) {
    const c = s.charCodeAt(j);
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      const e = quotedEnd(s, j, false);
      if (e < 0 || e > k) return -1;
      j = e;
    } else j++;
  }
  return k + 1;
}

/**
 * A setting's value is hidden even as a bare word or a quoted name: after `=` or `TO` in `SET`
 * (also `ALTER ... SET`), after `=` or `(` in `PRAGMA`, up to the end of the statement.
 */
const V_NONE = 0;
const V_SET = 1;
const V_PRAGMA = 2;
const V_ALTER = 3;
const V_VALUES = 4;

/** Literal-free, comment-free, whitespace-collapsed text, at most `maxLength` characters. */
export function sanitizeSql(text: string, maxLength: number = DEFAULT_SANITIZED_LENGTH): string {
  if (typeof text !== 'string') return '';
  const limit = clampLength(maxLength);
  let truncated = text.length > MAX_SQL_SCAN;
  const s = bounded(text);
  const n = s.length;
  const rawLimit = limit * 2 + 16; // room for IN-list collapsing before the final cut
  let out = '';
  let space = false;
  let operand = false; // the last token was an operand: a following `-` is binary
  let wordStart = -1; // the last token was the word s[wordStart, wordEnd)
  let lastWordEnd = -1;
  let backslashAt = 0; // the next `\` after the current string's quote once looked up; -1: none left
  let brackets: BracketScan | undefined;
  let statementWords = 0; // words of the current statement so far
  let values = V_NONE; // where the statement stands towards a setting's value (V_*)
  let i = 0;
  while (i < n) {
    if (out.length > rawLimit) {
      truncated = true;
      break;
    }
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) {
      space = true;
      i++;
      continue;
    }
    if ((c === 0x2d && s.charCodeAt(i + 1) === 0x2d) || (c === 0x2f && s.charCodeAt(i + 1) === 0x2a)) {
      commentAmbiguous = false;
      i = skipTrivia(s, i);
      if (commentAmbiguous) {
        truncated = true; // where the comment ends depends on the dialect: nothing after it is safe
        break;
      }
      space = true;
      continue;
    }
    let token: string;
    let isOperand = true;
    let isWord = false;
    if (isDigit(c) || (c === 0x2e && isDigit(s.charCodeAt(i + 1)))) {
      i = numberEnd(s, i);
      token = '?';
    } else if (c === 0x2d && (isDigit(s.charCodeAt(i + 1)) || (s.charCodeAt(i + 1) === 0x2e && isDigit(s.charCodeAt(i + 2)))) &&
      (!operand || (wordStart >= 0 && PREFIX_WORDS.has(s.slice(wordStart, lastWordEnd).toUpperCase())))) {
      i = numberEnd(s, i + 1);
      token = '?';
    } else if (c === 0x27) {
      const e = quotedEnd(s, i, false);
      if (backslashAt !== -1 && backslashAt <= i) backslashAt = s.indexOf('\\', i + 1);
      if (e >= 0 && backslashAt >= 0 && backslashAt < e && quotedEnd(s, i, true) !== e) {
        // A backslash escapes the quote where standard_conforming_strings is off (and only
        // there): the string ends in a different place in each reading, nothing after it is safe.
        out = append(out, space, '?');
        truncated = true;
        break;
      }
      i = e < 0 ? n : e;
      token = '?';
    } else if (isIdentStart(c)) {
      const e = wordEnd(s, i);
      const next = s.charCodeAt(e);
      const len = e - i;
      if (next === 0x27 && len === 1 && 'EeXxBbNn'.includes(s[i] as string)) {
        const escapes = c === 0x45 || c === 0x65;
        const q = quotedEnd(s, e, escapes);
        if (escapes && q !== quotedEnd(s, e, false)) {
          // E'...\' is an escape string in PostgreSQL, a column `e` and a plain string in SQLite:
          // the string ends in a different place in each reading, nothing after it is safe.
          out = append(out, space, '?');
          truncated = true;
          break;
        }
        i = q < 0 ? n : q;
        token = '?';
      } else if (len === 1 && (c === 0x55 || c === 0x75) && next === 0x26 && s.charCodeAt(e + 1) === 0x27) {
        const q = quotedEnd(s, e + 1, false);
        i = q < 0 ? n : q;
        token = '?';
      } else if (wordIs(s, i, e, 'TRUE') || wordIs(s, i, e, 'FALSE')) {
        i = e;
        token = '?';
      } else if (values === V_VALUES) {
        // A setting's value written as a bare word (`SET app.key TO hunter2`, `PRAGMA key = k`).
        i = e;
        token = '?';
      } else {
        token = s.slice(i, e);
        isWord = true;
        wordStart = i;
        lastWordEnd = e;
        i = e;
        if (statementWords === 0) values = wordIs(s, wordStart, e, 'SET') ? V_SET : wordIs(s, wordStart, e, 'PRAGMA') ? V_PRAGMA : wordIs(s, wordStart, e, 'ALTER') ? V_ALTER : V_NONE;
        else if (values === V_ALTER && wordIs(s, wordStart, e, 'SET')) values = V_SET;
        else if (values === V_SET && wordIs(s, wordStart, e, 'TO')) values = V_VALUES;
        statementWords++;
      }
    } else if (c === 0x22 || c === 0x60) {
      const e = quotedEnd(s, i, false);
      if (e < 0) {
        out = append(out, space, '?');
        break; // unterminated: nothing after it can be told apart from a literal
      }
      // A setting's value may be written as a quoted name (`SET x = "hunter2"`, `PRAGMA key = "k"`).
      token = values !== V_VALUES && isShowableQuoted(s, i, e) ? s.slice(i, e) : '?';
      i = e;
    } else if (c === 0x5b && (brackets ??= new BracketScan(s)).hasQuote(i)) {
      // `[...]` is an identifier in SQLite and a subscript in PostgreSQL: with a quote inside, the
      // two readings may end a string in different places (`[holder's name] = 'secret'`).
      const e = bracketEnd(s, i);
      if (e < 0) {
        out = append(out, space, '?');
        truncated = true;
        break;
      }
      token = '[?]';
      i = e;
    } else if (c === 0x24) {
      const e = dollarQuoteEnd(s, i);
      if (e >= 0) {
        token = '?';
        i = e;
      } else {
        // $1 / $name placeholders are kept; a lone `$` is an operator character.
        let j = i + 1;
        while (j < n && (isIdentStart(s.charCodeAt(j)) || isDigit(s.charCodeAt(j)))) j++;
        token = s.slice(i, j);
        isOperand = j > i + 1;
        i = j;
      }
    } else if (c === 0x3f) {
      let j = i + 1;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      token = s.slice(i, j);
      i = j;
    } else if ((c === 0x3a || c === 0x40) && isIdentStart(s.charCodeAt(i + 1)) && s.charCodeAt(i - 1) !== 0x3a) {
      const e = wordEnd(s, i + 1);
      token = s.slice(i, e);
      i = e;
    } else {
      token = s[i] as string;
      i++;
      isOperand = c === 0x29 || c === 0x5d;
      if (c === 0x3b) {
        statementWords = 0;
        values = V_NONE;
      } else if (c === 0x3d ? values === V_SET || values === V_PRAGMA : c === 0x28 && values === V_PRAGMA) values = V_VALUES;
      // `::` casts and the like: keep both characters together.
      if (c === 0x3a && s.charCodeAt(i) === 0x3a) {
        token = '::';
        i++;
      }
    }
    out = append(out, space, token);
    space = false;
    operand = isOperand;
    if (!isWord) wordStart = -1;
  }
  if (out.length > 4 && out.indexOf('?') >= 0) out = out.replace(IN_LIST, '$1 (?)');
  if (out.length > limit) {
    let cut = limit - TRUNCATION_MARK.length;
    const last = out.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut--; // do not split a surrogate pair
    out = out.slice(0, cut);
    truncated = true;
  } else if (truncated && out.length + TRUNCATION_MARK.length > limit) {
    out = out.slice(0, limit - TRUNCATION_MARK.length);
  }
  return truncated ? out + TRUNCATION_MARK : out;
}

/** Type, main table and sanitised text of one statement. */
export function classifySql(text: string, maxLength: number = DEFAULT_SANITIZED_LENGTH): SqlSummary {
  if (typeof text !== 'string') return { queryType: 'OTHER', sanitized: '' };
  const s = bounded(text);
  const type = detect(s);
  const table = tableOf(s, type, detectedAt, detectedEnd);
  const summary: SqlSummary = { queryType: type, sanitized: sanitizeSql(text, maxLength) };
  if (table !== undefined) summary.table = table;
  return summary;
}

/**
 * Bounded memo of `classifySql` for hot paths: applications run the same statement texts again
 * and again (better-sqlite3 statements, pg query strings). Least recently used entries go first;
 * texts longer than `maxKeyLength` are classified but not kept.
 */
export class SqlSummaryCache {
  private readonly entries = new Map<string, SqlSummary>();

  constructor(
    private readonly maxEntries = 512,
    private readonly maxKeyLength = 4096,
    private readonly maxLength = DEFAULT_SANITIZED_LENGTH,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(text: string): SqlSummary {
    if (typeof text !== 'string') return classifySql(text, this.maxLength);
    const hit = this.entries.get(text);
    if (hit !== undefined) {
      this.entries.delete(text);
      this.entries.set(text, hit);
      return hit;
    }
    const summary = Object.freeze(classifySql(text, this.maxLength)) as SqlSummary;
    if (text.length <= this.maxKeyLength && this.maxEntries > 0) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
      this.entries.set(text, summary);
    }
    return summary;
  }
}

// ---------------------------------------------------------------------------------------------
// Connection strings

export const REDACTED = 'REDACTED';

const SECRET_KEYS: readonly string[] = ['sslpassword', 'password', 'passwd', 'pwd', 'pass'];

/** At i, a secret key followed by optional blanks and `=`: index of the value start, else -1. */
function secretValueStart(s: string, i: number): number {
  for (const key of SECRET_KEYS) {
    const e = i + key.length;
    if (e > s.length) continue;
    let ok = true;
    for (let k = 0; k < key.length; k++) {
      const c = s.charCodeAt(i + k);
      if (c > 0x7a || (c | 0x20) !== key.charCodeAt(k)) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    let j = e;
    while (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09) j++;
    if (s.charCodeAt(j) !== 0x3d) continue;
    j++;
    while (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09) j++;
    return j;
  }
  return -1;
}

/** Whether s[k..] looks like the next `key=` pair (blanks, a key that may hold spaces, `=`). */
function isPairStart(s: string, k: number): boolean {
  const n = Math.min(s.length, k + 64);
  while (k < n && (s.charCodeAt(k) === 0x20 || s.charCodeAt(k) === 0x09)) k++;
  const start = k;
  while (k < n) {
    const c = s.charCodeAt(k);
    const keyChar = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f || c === 0x20 || c === 0x2e || c === 0x2d;
    if (!keyChar) break;
    k++;
  }
  return k > start && s.charCodeAt(k) === 0x3d;
}

/** Index after the quote closing the one at j (`\\x` escapes, or doubled quotes); s.length if none. */
function closingQuote(s: string, j: number, backslash: boolean): number {
  const q = s.charCodeAt(j);
  const n = s.length;
  let k = j + 1;
  while (k < n) {
    const c = s.charCodeAt(k);
    if (backslash && c === 0x5c) {
      k += 2;
      continue;
    }
    if (c === q) {
      if (!backslash && s.charCodeAt(k + 1) === q) {
        k += 2;
        continue;
      }
      return k + 1;
    }
    k++;
  }
  return n;
}

/**
 * End of a key=value value at j. Quoted values end at their closing quote (see above). Unquoted: at a blank; in a URL query (`query`) also at `&` or `#`; and at a
 * `;` that starts the next `key=` pair (`Host=x;Password=y;Database=z`).
 */
function secretValueEnd(s: string, j: number, query: boolean): number {
  const n = s.length;
  const q = s.charCodeAt(j);
  if (q === 0x27 || q === 0x22) {
    // libpq escapes with backslashes, `;`-style strings double the quote: a value read the wrong
    // way could end early and leave part of it, so take the later of both readings.
    return Math.max(closingQuote(s, j, true), closingQuote(s, j, false));
  }
  let k = j;
  while (k < n) {
    const c = s.charCodeAt(k);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break;
    if (query && (c === 0x26 || c === 0x23)) break;
    if (c === 0x3b && isPairStart(s, k + 1)) break;
    k++;
  }
  return k;
}

/**
 * The connection string with every password replaced by `REDACTED` (see module notes).
 * Non-strings give ''. Linear in the input.
 */
export function redactConnectionString(s: string): string {
  if (typeof s !== 'string') return '';
  let out = s;
  // URL userinfo: scheme://user:password@host...
  const scheme = out.indexOf('://');
  if (scheme > 0) {
    const authStart = scheme + 3;
    const at = out.lastIndexOf('@');
    if (at > authStart) {
      const colon = out.indexOf(':', authStart);
      if (colon >= 0 && colon < at) out = out.slice(0, colon + 1) + REDACTED + out.slice(at);
    }
  }
  // key=value secrets (libpq, `;`-separated, URL query).
  let result = '';
  let copied = 0;
  for (let i = 0; i < out.length; i++) {
    const before = i === 0 ? -1 : out.charCodeAt(i - 1);
    // A key starts the string or follows a separator.
    if (!(i === 0 || before === 0x20 || before === 0x09 || before === 0x0a || before === 0x3b || before === 0x26 || before === 0x3f || before === 0x2c)) {
      continue;
    }
    const c = out.charCodeAt(i) | 0x20;
    if (c !== 0x70 && c !== 0x73) continue; // p / s
    const v = secretValueStart(out, i);
    if (v < 0) continue;
    const e = secretValueEnd(out, v, before === 0x26 || before === 0x3f);
    if (e === v) continue; // empty value: nothing to hide
    result += out.slice(copied, v) + REDACTED;
    copied = e;
    i = e - 1;
  }
  return copied === 0 ? out : result + out.slice(copied);
}
