// Loaded after `--import ./register.js` by bench/tls-session: SIGUSR1 switches the running SDK's
// tls instrumentation off and on (its public disable() / enable()) and prints `tls off` / `tls on`,
// so that one process measures both states (two processes of one server differ more than that).
import { CardlinkTlsInstrumentation, getSdk } from '../../dist/bundle/index.js';

let off = false;
process.on('SIGUSR1', () => {
  const tls = getSdk()?.instrumentations.find((i) => i instanceof CardlinkTlsInstrumentation);
  if (tls === undefined) {
    console.log('tls missing');
    return;
  }
  if (off) tls.enable();
  else tls.disable();
  off = !off;
  console.log(`tls ${off ? 'off' : 'on'}`);
});
