/**
 * Hostile devices: a phone world that prints random serials. No serial may become a label: the
 * number of series stays where it was, whatever the phones print. (Invented URC names never reach
 * metrics at all: they are span events, bounded to known names, see test/at.test.ts.)
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../src/config.js';
import { createInstrumentations as adb } from '../instrumentations/adb/index.js';
import { setupHarness } from './helpers/otel-harness.js';
import { REPO_ROOT } from './helpers/child.js';

const { config } = parseConfig({});
const h = setupHarness(adb(config));
t.teardown(() => h.shutdown());

async function seriesCount(): Promise<number> {
  return (await h.collect()).reduce((n, m) => n + m.dataPoints.length, 0);
}

t.test('a phone world printing 1,000 random serials: the gauge counts, no serial becomes a label', async (t) => {
  const serials = Array.from({ length: 1000 }, (_, i) => `${randomBytes(6).toString('hex')}:${i % 3 === 0 ? 'unauthorized' : 'device'}`);
  const env = { ...process.env, PATH: `${join(REPO_ROOT, 'test/fixtures/fake-adb')}:${process.env['PATH'] ?? ''}`, FAKE_ADB_DEVICES: serials.join(',') };
  const before = await seriesCount();
  // Without -l the 1,000 lines stay under the 64 KiB the instrumentation reads (a longer listing is ignored).
  for (let i = 0; i < 3; i++) execFileSync('adb', ['devices'], { env });
  const after = await h.collect();
  const labelValues = JSON.stringify(after.flatMap((m) => m.dataPoints.map((p) => p.attributes)));
  for (const s of serials.slice(0, 50)) t.notMatch(labelValues, s.split(':')[0] as string);
  // The listing parser keeps at most 256 devices: the gauge reads the ready ones among them.
  const phones = await h.value('cardlink_devices_connected', { device_type: 'phone' });
  t.ok(phones > 0 && phones <= 256, `phones connected: ${phones}`);
  t.ok((await seriesCount()) - before <= 3, 'at most the adb duration and gauge series were added');
});
