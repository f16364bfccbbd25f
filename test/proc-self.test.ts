/** statusBytes: the kB lines of /proc/<pid>/status as bytes (the process metrics read them from a held descriptor). */
import t from 'tap';
import { statusBytes } from '../src/metrics/proc-self.js';

// The shape of /proc/<pid>/status on Linux 6.x (proc(5)): tab after the colon, values right-aligned in kB.
const STATUS = [
  'Name:\tnode',
  'Umask:\t0022',
  'State:\tS (sleeping)',
  'VmPeak:\t 1767788 kB',
  'VmSize:\t 1699600 kB',
  'VmLck:\t       0 kB',
  'VmHWM:\t   95056 kB',
  'VmRSS:\t   93784 kB',
  'RssAnon:\t   61220 kB',
  'Threads:\t11',
  '',
].join('\n');

t.test('the fields the process metrics use, in bytes', async (t) => {
  t.equal(statusBytes(STATUS, 'VmRSS'), 93784 * 1024);
  t.equal(statusBytes(STATUS, 'VmSize'), 1699600 * 1024);
  t.equal(statusBytes(STATUS, 'VmLck'), 0);
});

t.test('a field is matched whole, at the start of its line', async (t) => {
  t.equal(statusBytes(STATUS, 'Rss'), undefined, 'no prefix match (RssAnon)');
  t.equal(statusBytes(STATUS, 'Anon'), undefined, 'no match inside a name');
  t.equal(statusBytes('VmRSS:\t12 kB', 'VmRSS'), 12 * 1024, 'first line, no newline after it');
});

t.test('anything else is unknown, not a number made up', async (t) => {
  t.equal(statusBytes(STATUS, 'Threads'), undefined, 'a count, not kB');
  t.equal(statusBytes(STATUS, 'VmSwap'), undefined, 'absent (kernel without it)');
  t.equal(statusBytes('VmRSS:\t 12 MB\n', 'VmRSS'), undefined, 'another unit');
  t.equal(statusBytes('VmRSS:\t\n', 'VmRSS'), undefined, 'empty');
  t.equal(statusBytes('', 'VmRSS'), undefined, 'empty text');
});

t.test('on this machine: the live file agrees with process.memoryUsage()', async (t) => {
  const { readFileSync } = await import('node:fs');
  const rss = statusBytes(readFileSync('/proc/self/status', 'latin1'), 'VmRSS');
  const viaNode = process.memoryUsage.rss();
  t.ok(rss !== undefined && Math.abs(rss - viaNode) < 16 * 1024 * 1024, `${rss} against ${viaNode}`);
});

t.test('the two files are held while any user holds them, and released once per user', async (t) => {
  const { readdirSync } = await import('node:fs');
  const { procSelf } = await import('../src/metrics/proc-self.js');
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  const releaseA = procSelf.acquire();
  t.equal(open(), before + 2, 'status and limits opened');
  const releaseB = procSelf.acquire();
  t.equal(open(), before + 2, 'a second user shares them');
  releaseA();
  releaseA();
  t.equal(open(), before + 2, "the first user's release, twice, leaves them to the second");
  t.ok((procSelf.memory().vms ?? 0) > 0, 'still read from the held file');
  releaseB();
  t.equal(open(), before, 'closed with the last user');
});
