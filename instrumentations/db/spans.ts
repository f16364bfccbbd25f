/** The `sqlite` and `pg` instrumentations' spans and their `cardlink.*` attribute keys (docs/spans.md is generated from here). */
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import { attr, type AttributeDoc, type SpanDoc } from '../shared/span-catalogue.js';

export const DB_ATTR = {
  slowQuery: 'cardlink.db.slow_query',
  statementName: 'cardlink.db.statement_name',
} as const;

const TARGET: readonly AttributeDoc[] = [
  attr(ATTR_DB_SYSTEM_NAME, '`sqlite` or `postgresql`'),
  attr(ATTR_DB_NAMESPACE, 'the SQLite file (`:memory:`), the PostgreSQL database'),
  attr(ATTR_SERVER_ADDRESS, 'PostgreSQL host'),
  attr(ATTR_SERVER_PORT, 'PostgreSQL port'),
];
const ERROR: readonly AttributeDoc[] = [
  attr(ATTR_ERROR_TYPE, 'the SQLSTATE, a Node error code or the error class'),
  attr(ATTR_DB_RESPONSE_STATUS_CODE, 'the SQLSTATE (PostgreSQL) or SQLite result code'),
];

const QUERY: SpanDoc = {
  name: '<db.operation.name> <db.collection.name>',
  alsoNamed: ['<db.operation.name>', '<db.system.name>'],
  kind: 'CLIENT',
  brief: 'one query; named by its first keyword and main table when simple to find, else the keyword or the system alone',
  attributes: [
    ...TARGET,
    attr(ATTR_DB_OPERATION_NAME, 'the first keyword (`SELECT`, `SAVEPOINT` ...)'),
    attr(ATTR_DB_COLLECTION_NAME, 'the main table'),
    attr(ATTR_DB_QUERY_TEXT, 'the statement without literals (`captureQueryText`, default on)'),
    ...ERROR,
    attr(DB_ATTR.slowQuery, '`true` when it took at least `slowQueryThresholdMs`'),
    attr(DB_ATTR.statementName, 'the name of a PostgreSQL prepared statement'),
  ],
};

export const SQLITE_SPANS: readonly SpanDoc[] = [QUERY];

export const PG_SPANS: readonly SpanDoc[] = [
  QUERY,
  { name: 'pg.connect', kind: 'CLIENT', brief: 'a client connecting (`connect()`)', attributes: [...TARGET, ...ERROR] },
  { name: 'pg-pool.connect', kind: 'INTERNAL', brief: 'getting a client from a pool (pool exhaustion shows here)', attributes: [...TARGET, ...ERROR] },
];
