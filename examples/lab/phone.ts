/**
 * The lab's phone controller: runs `adb` as CardLink's phone controller does (a simulated adb
 * from examples/bin is first on PATH): lists phones, injects SMS-PP triggers through the SMS
 * provider, reads properties (one phone is unauthorized: its errors are part of the picture).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const READY_PHONE = 'R58M123ABC';
export const LOCKED_PHONE = '0123456789ABCDEF';

export async function listPhones(): Promise<string> {
  return (await run('adb', ['devices', '-l'])).stdout;
}

/** An SMS-PP trigger delivered to the phone's SMS stack (the card's ENVELOPE comes from there). */
export async function injectTrigger(): Promise<void> {
  await run('adb', [
    '-s',
    READY_PHONE,
    'shell',
    'am',
    'broadcast',
    '-a',
    'android.provider.Telephony.SMS_DELIVER',
    '--es',
    'pdu',
    '0011000B916407281553F80004AA0A0102030405060708090A',
  ]);
}

export async function readProperty(serial: string, name: string): Promise<string> {
  return (await run('adb', ['-s', serial, 'shell', 'getprop', name])).stdout.trim();
}
