/**
 * The HTTP head corpus (test/fixtures/real-world/http/*.json: response heads as the public
 * CardLink writes them) read two ways: `headerInHead` on the head as a string (how an https
 * response's Content-Type is read) and the passive HTTP scanner on its bytes (how a raw tls
 * server's is); both must find the same Content-Type and SCP81 script kind as the item says.
 */
import type { Test } from 'tap';
import { eachItem } from './items.js';
import { headerInHead, HttpMessageScanner, type HttpMessageHead } from '../../instrumentations/tls/http-stream.js';
import { scp81ContentKind } from '../../instrumentations/tls/scp81.js';

interface Item {
  source: string;
  note: string;
  head: string;
  expect: { statusCode: number; contentType: string | null; scp81: 'command' | 'response' | null };
}

export function runCorpus(t: Test): void {
  eachItem<Item>(t, 'http', (it) => {
    const fromString = headerInHead(it.head, 'content-type', '\r\nContent-Type:') ?? null;
    let head: HttpMessageHead | undefined;
    const scanner = new HttpMessageScanner('response', { onMessageStart: (h) => void (head = h) });
    scanner.push(Buffer.from(it.head, 'latin1'));
    const fromBytes = head?.headers['content-type'] ?? null;
    t.same(
      { string: fromString, bytes: fromBytes, status: head?.statusCode, scp81: scp81ContentKind(fromString ?? undefined) },
      { string: it.expect.contentType, bytes: it.expect.contentType, status: it.expect.statusCode, scp81: it.expect.scp81 },
      `${it.source}: ${it.note}`,
    );
  });
}
