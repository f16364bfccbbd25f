/**
 * The lab's card fleet: simulated UICCs that open PSK-TLS sessions to the admin server, as cards do
 * after a trigger or on their own polling timer. Most sessions complete; some cards stop mid-script,
 * hang until the server's idle timeout, resume an interrupted session, or present a wrong key or an
 * unknown identity, so every outcome shows up on the dashboards.
 */
import { runCard, type CardRun } from '../../test/fixtures/card-simulator.js';

export interface Card {
  readonly identity: string;
  readonly iccid: string;
  readonly key: Buffer;
}

export type Behaviour = 'normal' | 'resume' | 'stop' | 'hang' | 'bad_key' | 'unknown_identity';

/** A fixed rotation so the first 30 seconds already show every outcome. */
const ROTATION: Behaviour[] = ['normal', 'normal', 'stop', 'normal', 'resume', 'bad_key', 'normal', 'hang', 'normal', 'unknown_identity'];

export function behaviourFor(n: number): Behaviour {
  return ROTATION[n % ROTATION.length] as Behaviour;
}

export function fleet(count: number): Card[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(3, '0');
    return {
      identity: `card-${n}`,
      iccid: `8944500102198304${n}`.slice(0, 19),
      key: Buffer.from(`${n}0102030405060708090A0B0C0D`.slice(0, 32).padEnd(32, '0'), 'hex'),
    };
  });
}

export function connect(port: number, card: Card, behaviour: Behaviour): Promise<CardRun> {
  switch (behaviour) {
    case 'resume':
      return runCard({ port, identity: card.identity, key: card.key, resume: true });
    case 'stop':
      return runCard({ port, identity: card.identity, key: card.key, stopAfter: 3 });
    case 'hang':
      return runCard({ port, identity: card.identity, key: card.key, hangAfterFirst: true });
    case 'bad_key':
      return runCard({ port, identity: card.identity, key: Buffer.alloc(16, 0xee) });
    case 'unknown_identity':
      return runCard({ port, identity: 'card-999', key: card.key });
    default:
      return runCard({ port, identity: card.identity, key: card.key });
  }
}
