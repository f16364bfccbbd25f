import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { printLine } from './diag.js';

/**
 * Listen for one of our endpoints without ever failing the application: a port in use (or any
 * other listen error) is one line on stderr naming what is not served and the variable to change.
 * Resolves with the bound port, or undefined when listening failed.
 */
export function listenOrReport(server: Server, host: string, port: number, what: string, remedy: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message;
      printLine(`cannot serve ${what} on ${host}:${port}: ${why}. ${remedy}; the application keeps running without ${what === 'the health endpoints' ? 'them' : 'it'}.`);
      resolve(undefined);
    });
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Close a server and its keep-alive connections; resolves when done (at once if not listening). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
