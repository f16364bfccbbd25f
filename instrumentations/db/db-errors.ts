/**
 * Pure classification of database driver errors for spans: `error.type`, `db.response.status_code`
 * and a status message that never carries data. No OpenTelemetry, no I/O, never throws.
 *
 * Server and SQLite messages can quote the statement (`syntax error at or near "'secret'"`,
 * `invalid input syntax for type integer: "abc"`), so for them only the code and its condition
 * name are used. Library messages (`Connection terminated unexpectedly`, `The database connection
 * is not open`) carry no data and are kept, bounded.
 */

export interface DbErrorInfo {
  /** `error.type`: the SQLSTATE, the SQLite code, a Node error code, or the error class name. */
  readonly type: string;
  /** `db.response.status_code`: the SQLSTATE or the SQLite result code, when there is one. */
  readonly statusCode: string | undefined;
  /** Span status description (no statement text, no values). */
  readonly message: string;
}

const MAX_MESSAGE = 200;

/** PostgreSQL condition names (Appendix A) for the codes a CardLink lab meets. */
const SQLSTATE_NAMES: Readonly<Record<string, string>> = {
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '08P01': 'protocol_violation',
  '0A000': 'feature_not_supported',
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22P02': 'invalid_text_representation',
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '25P02': 'in_failed_sql_transaction',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '3D000': 'invalid_catalog_name',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42601': 'syntax_error',
  '42703': 'undefined_column',
  '42P01': 'undefined_table',
  '42P07': 'duplicate_table',
  '53300': 'too_many_connections',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
};

/** SQLSTATE classes (the first two characters) for codes not listed above. */
const SQLSTATE_CLASSES: Readonly<Record<string, string>> = {
  '08': 'connection_exception',
  '0A': 'feature_not_supported',
  '21': 'cardinality_violation',
  '22': 'data_exception',
  '23': 'integrity_constraint_violation',
  '24': 'invalid_cursor_state',
  '25': 'invalid_transaction_state',
  '26': 'invalid_sql_statement_name',
  '28': 'invalid_authorization_specification',
  '3D': 'invalid_catalog_name',
  '3F': 'invalid_schema_name',
  '40': 'transaction_rollback',
  '42': 'syntax_error_or_access_rule_violation',
  '53': 'insufficient_resources',
  '54': 'program_limit_exceeded',
  '55': 'object_not_in_prerequisite_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  F0: 'config_file_error',
  HV: 'fdw_error',
  P0: 'plpgsql_error',
  XX: 'internal_error',
};

/** Condition name of a SQLSTATE (`57P01` -> `admin_shutdown`), or its class name, or undefined. */
export function sqlstateName(code: string): string | undefined {
  return SQLSTATE_NAMES[code] ?? SQLSTATE_CLASSES[code.slice(0, 2)];
}

function isSqlstateShape(code: string): boolean {
  if (code.length !== 5) return false;
  for (let i = 0; i < 5; i++) {
    const c = code.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a))) return false;
  }
  return true;
}

function isCodeShape(code: string, max: number): boolean {
  if (code.length < 1 || code.length > max) return false;
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x5f)) return false;
  }
  return true;
}

function isIdentifierShape(name: string): boolean {
  return /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(name);
}

function boundedMessage(message: unknown): string {
  if (typeof message !== 'string') return '';
  const firstLine = message.split('\n', 1)[0] ?? '';
  return firstLine.length > MAX_MESSAGE ? `${firstLine.slice(0, MAX_MESSAGE - 1)}…` : firstLine;
}

function read(err: object, key: string): unknown {
  try {
    return (err as Record<string, unknown>)[key];
  } catch {
    return undefined; // a throwing getter on an application error object
  }
}

/** Classifies anything thrown or passed to a callback by better-sqlite3 or pg. */
export function describeDbError(err: unknown): DbErrorInfo {
  if (typeof err !== 'object' || err === null) {
    return { type: '_OTHER', statusCode: undefined, message: 'non-error value thrown' };
  }
  const code = read(err, 'code');
  if (typeof code === 'string') {
    // pg's DatabaseError carries the SQLSTATE and a severity; Node errno codes (EPIPE) look alike.
    const severity = read(err, 'severity');
    if (isSqlstateShape(code) && (typeof severity === 'string' || code.charCodeAt(0) !== 0x45)) {
      const name = sqlstateName(code);
      return { type: code, statusCode: code, message: name === undefined ? `SQLSTATE ${code}` : `SQLSTATE ${code} ${name}` };
    }
    if (code.startsWith('SQLITE_') && isCodeShape(code, 64)) {
      return { type: code, statusCode: code, message: code };
    }
    if (isCodeShape(code, 64)) {
      return { type: code, statusCode: undefined, message: boundedMessage(read(err, 'message')) || code };
    }
  }
  let type = 'Error';
  const ctor = read(err, 'constructor');
  const name = typeof ctor === 'function' ? (ctor as { name?: unknown }).name : undefined;
  if (typeof name === 'string' && isIdentifierShape(name)) type = name;
  // A SqliteError without a usable code still quotes SQL in its message: keep it out.
  if (type === 'SqliteError' || type === 'DatabaseError') return { type, statusCode: undefined, message: type };
  return { type, statusCode: undefined, message: boundedMessage(read(err, 'message')) || type };
}
