/**
 * Every pure decoder over the real-world corpus under test/fixtures/real-world/: material from
 * public sources (ModemManager, ofono, vendor manuals, AOSP adb, the public CardLink's bodies and
 * response heads, PostgreSQL's and SQLite's own tests, the /proc files of the Linux kernel's
 * documentation and of prometheus/procfs), each item with its source. One subtest per decoder.
 */
import t from 'tap';
import { runCorpus as at } from './real-world/at.js';
import { runCorpus as adb } from './real-world/adb.js';
import { runCorpus as http } from './real-world/http.js';
import { runCorpus as proc } from './real-world/proc.js';
import { runCorpus as scp81 } from './real-world/scp81.js';
import { runCorpus as sql } from './real-world/sql.js';
import { runCorpus as stk } from './real-world/stk.js';

t.test('AT decoder', async (t) => at(t));
t.test('adb decoder', async (t) => adb(t));
t.test('SCP81 body decoder', async (t) => scp81(t));
t.test('HTTP response heads (Content-Type read from a string and from bytes)', async (t) => http(t));
t.test('SQL classifier and sanitiser', async (t) => sql(t));
t.test('/proc status and limits (process metrics, health checks)', async (t) => proc(t));
t.test('STK decoder and dialects', async (t) => stk(t));
