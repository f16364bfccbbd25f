import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ADB_DEVICE_STATES,
  ADB_ERROR_TYPES,
  ADB_OPERATIONS,
  MAX_DEVICES,
  MAX_SERIAL_LENGTH,
  adbOperationOf,
  classifyAdbError,
  commandArgsForSpan,
  countOnline,
  decodeAdbArgs,
  isAdbExecutable,
  isSmsInjection,
  parseAdbDevices,
  phoneActions,
  parseShellCommandLine,
  remoteProgramName,
  isLiveLogcat,
  errorsMayBeOnStdout,
  stdoutRefusal,
  type ShellCommandLine,
} from '../instrumentations/adb/adb.js';

t.test('isAdbExecutable: base name adb / adb.exe, or the configured path', async (t) => {
  for (const f of ['adb', '/usr/bin/adb', '/opt/android-sdk/platform-tools/adb', './adb', 'C:\\sdk\\platform-tools\\adb.exe', 'adb.exe', 'ADB.EXE', 'c:/x/Adb.Exe']) {
    t.ok(isAdbExecutable(f), f);
  }
  for (const f of ['', 'a', 'db', 'node', 'sh', '/bin/sh', 'gadb', '/usr/bin/xadb', 'adb2', 'adb.sh', 'adbe', 'ADB', '/usr/bin/adb/', 'adb.ex', 'xadb.exe', '/bin/cat.exe', 'fastboot']) {
    t.notOk(isAdbExecutable(f), f);
  }
  t.ok(isAdbExecutable('/opt/tools/android-bridge', '/opt/tools/android-bridge'));
  t.notOk(isAdbExecutable('/opt/tools/other', '/opt/tools/android-bridge'));
  t.notOk(isAdbExecutable(undefined as unknown as string));
});

t.test('decodeAdbArgs: operation after global flags', async (t) => {
  const cases: Array<[string[], string, Record<string, unknown>?]> = [
    [['devices'], 'devices'],
    [['devices', '-l'], 'devices'],
    [['-s', 'emulator-5554', 'shell', 'ls'], 'shell', { serial: 'emulator-5554' }],
    [['-semulator-5554', 'shell'], 'shell', { serial: 'emulator-5554' }],
    [['--one-device', 'R58M41ABCDE', 'install', '-r', 'app.apk'], 'install', { serial: 'R58M41ABCDE' }],
    [['-t', '3', 'logcat', '-d'], 'logcat', { transportId: 3 }],
    [['-t3', 'get-state'], 'get-state', { transportId: 3 }],
    [['-H', '10.0.0.2', '-P', '5038', 'devices'], 'devices', { host: '10.0.0.2', port: 5038 }],
    [['-P5038', 'kill-server'], 'kill-server', { port: 5038 }],
    [['-L', 'tcp:localhost:5039', 'start-server'], 'start-server', { host: 'localhost', port: 5039 }],
    [['-L', 'tcp:5040', 'version'], 'version', { port: 5040 }],
    [['-d', 'reboot', 'bootloader'], 'reboot', { target: 'usb' }],
    [['-e', 'emu', 'kill'], 'emu', { target: 'emulator' }],
    [['-a', '-d', '-s', '192.168.1.5:5555', 'tcpip', '5555'], 'tcpip', { serial: '192.168.1.5:5555', target: 'usb' }],
    [['--exit-on-write-error', 'exec-out', 'screencap', '-p'], 'exec-out'],
    [['wait-for-device'], 'wait-for-device'],
    [['wait-for-usb-device'], 'wait-for-device'],
    [['wait-for-any-recovery'], 'wait-for-device'],
    [['wait-for-local-disconnect'], 'wait-for-device'],
    [['install-multiple', 'a.apk', 'b.apk'], 'install-multiple'],
    [['install-multi-package', 'a.apk'], 'install-multiple'],
    [['reboot-bootloader'], 'reboot'],
    [['lolcat'], 'logcat'],
    [['--version'], 'version'],
    [['get-serialno'], 'get-serialno'],
    [['uninstall', '-k', 'com.example'], 'uninstall'],
    [['push', 'a', '/sdcard/a'], 'push'],
    [['pull', '/sdcard/a'], 'pull'],
    [['forward', 'tcp:8080', 'tcp:8080'], 'forward'],
    [['reverse', '--remove-all'], 'reverse'],
    [['root'], 'root'],
    [['unroot'], 'unroot'],
    [['connect', '10.0.0.3:5555'], 'connect'],
    [['disconnect'], 'disconnect'],
    [['sideload', 'ota.zip'], 'sideload'],
    [['bugreport', 'out.zip'], 'bugreport'],
    [['usb'], 'usb'],
    [['remount'], 'remount'],
    [['frobnicate'], 'other'],
    [['-x', 'devices'], 'other'], // adb: unknown command -x
    [['-p', 'foo', 'devices'], 'other'], // adb 29: unknown command -p
    [['-s'], 'other'], // adb: -s requires an argument
    [[], 'other'],
    [['-'], 'other'],
    [['wait-for-'], 'other'],
  ];
  for (const [args, op, extra] of cases) {
    const d = decodeAdbArgs(args);
    t.equal(d.operation, op, args.join(' '));
    if (extra) for (const [k, v] of Object.entries(extra)) t.equal((d as unknown as Record<string, unknown>)[k], v, `${args.join(' ')} ${k}`);
  }
  const d = decodeAdbArgs(['-s', 'X', 'shell', 'am', 'broadcast', '-a', 'x']);
  t.same(d.subcommandArgs, ['am', 'broadcast', '-a', 'x']);
  t.equal(d.shellCommand, 'am broadcast -a x');
  t.same(d.globalFlags, ['-s']);
  t.equal(d.subcommand, 'shell');
  // Values that are not plausible stay out.
  t.equal(decodeAdbArgs(['-s', 'bad serial', 'shell']).serial, undefined);
  t.equal(decodeAdbArgs(['-s', 'x'.repeat(MAX_SERIAL_LENGTH + 1), 'shell']).serial, undefined);
  t.equal(decodeAdbArgs(['-P', '70000', 'devices']).port, undefined);
  t.equal(decodeAdbArgs(['-t', 'abc', 'devices']).transportId, undefined);
  t.equal(decodeAdbArgs(['-t', 'abc', 'devices']).operation, 'devices');
  t.equal(decodeAdbArgs(null as unknown as string[]).operation, 'other');
  t.equal(decodeAdbArgs(['-s', 5 as unknown as string, 'shell']).operation, 'other');
  t.equal(adbOperationOf(undefined), 'other');
});

t.test('decodeAdbArgs: shell options and the remote command', async (t) => {
  const cases: Array<[string[], string[], string | undefined]> = [
    [['shell'], [], undefined],
    [['shell', 'ls', '-l', '/sdcard'], [], 'ls -l /sdcard'],
    [['shell', '-n', '-T', 'getprop', 'ro.serialno'], ['-n', '-T'], 'getprop ro.serialno'],
    [['shell', '-nT', 'getprop'], ['-nT'], 'getprop'],
    [['shell', '-e', '~', 'ls'], ['-e'], 'ls'],
    [['shell', '-e~', 'ls'], ['-e'], 'ls'],
    [['shell', '-ne', 'none', 'ls'], ['-n', '-e'], 'ls'],
    [['shell', '--', '-weird'], [], '-weird'],
    [['shell', '-x', 'am start -n com.x/.Main'], ['-x'], 'am start -n com.x/.Main'],
    [['exec-out', 'screencap', '-p'], [], 'screencap -p'],
  ];
  for (const [args, options, cmd] of cases) {
    const d = decodeAdbArgs(args);
    if (d.operation === 'shell') t.same(d.shellOptions, options, args.join(' '));
    t.equal(d.shellCommand, cmd, args.join(' '));
  }
});

t.test('commandArgsForSpan: no serials, no remote arguments, only harmless flags', async (t) => {
  const cases: Array<[string[], string[]]> = [
    [['-s', 'R58M41ABCDE', 'shell', 'am', 'broadcast', '-a', 'android.provider.Telephony.SMS_DELIVER', '--es', 'pdu', '0791'], ['adb', '-s', 'shell', 'am']],
    [['-s', 'R58M41ABCDE', 'shell', 'input text "secret pin 1234"'], ['adb', '-s', 'shell', 'input']],
    [['shell', '/system/bin/pm', 'list', 'packages'], ['adb', 'shell', 'pm']],
    [['shell', 'LD_LIBRARY_PATH=/x service call isms 7 s16 a'], ['adb', 'shell', 'service']],
    [['shell', '-n', '-T', 'getprop', 'ro.serialno'], ['adb', 'shell', '-n', '-T', 'getprop']],
    [['shell', '-e', 'x', 'content', 'query'], ['adb', 'shell', 'content']],
    [['shell', '"am" start'], ['adb', 'shell']],
    [['shell', '$(cat /secret)'], ['adb', 'shell']],
    [['shell'], ['adb', 'shell']],
    [['exec-out', 'screencap', '-p'], ['adb', 'exec-out', 'screencap']],
    [['-t', '3', 'devices', '-l'], ['adb', '-t', 'devices', '-l']],
    [['-H', 'h', '-P', '5038', 'devices'], ['adb', '-H', '-P', 'devices']],
    [['-sSERIAL', 'install', '-r', '-g', '/home/u/secret/app-release.apk'], ['adb', '-s', 'install', '-r', '-g']],
    [['uninstall', '-k', 'com.example.app'], ['adb', 'uninstall', '-k']],
    [['push', '--sync', '/tmp/keys.txt', '/sdcard/keys.txt'], ['adb', 'push', '--sync']],
    [['emu', 'sms', 'send', '5551234', 'hello secret'], ['adb', 'emu']],
    [['reboot', 'bootloader'], ['adb', 'reboot', 'bootloader']],
    [['reboot', 'weird-target'], ['adb', 'reboot']],
    [['connect', '10.1.2.3:5555'], ['adb', 'connect']],
    [['logcat', '-d', '-s', 'MyTag:V', '*:S'], ['adb', 'logcat', '-d', '-s']],
    [['wait-for-usb-device'], ['adb', 'wait-for-usb-device']],
    [['--version'], ['adb', 'version']],
    [['pair', '10.0.0.2:37000', '123456'], ['adb', 'pair']],
    [['forward', '--list'], ['adb', 'forward', '--list']],
  ];
  for (const [args, expected] of cases) t.same(commandArgsForSpan(decodeAdbArgs(args)), expected, args.join(' '));
  t.equal(remoteProgramName('  A=1 B=2 /vendor/bin/toybox ls'), 'toybox');
  t.equal(remoteProgramName(''), undefined);
  t.equal(remoteProgramName(undefined), undefined);
});

t.test('parseShellCommandLine: exec strings', async (t) => {
  const cases: Array<[string, (Partial<ShellCommandLine> & { file: string; args: string[] }) | null]> = [
    ['adb -s X shell ls /sdcard', { file: 'adb', args: ['-s', 'X', 'shell', 'ls', '/sdcard'] }],
    ['  /usr/bin/adb devices -l  ', { file: '/usr/bin/adb', args: ['devices', '-l'] }],
    [`adb shell 'am broadcast -a android.provider.Telephony.SMS_DELIVER --es "pdu" x'`, { file: 'adb', args: ['shell', 'am broadcast -a android.provider.Telephony.SMS_DELIVER --es "pdu" x'] }],
    [`adb shell "input text 'hello world'"`, { file: 'adb', args: ['shell', "input text 'hello world'"] }],
    [`adb shell "echo \\"q\\" \\\\ \\$HOME"`, { file: 'adb', args: ['shell', 'echo "q" \\ $HOME'] }],
    [`adb shell echo a\\ b`, { file: 'adb', args: ['shell', 'echo', 'a b'] }],
    [`adb -s "emulator-5554" shell ""`, { file: 'adb', args: ['-s', 'emulator-5554', 'shell', ''] }],
    ['ANDROID_SERIAL=X adb shell true', { file: 'adb', args: ['shell', 'true'], androidSerial: 'X' }],
    ['env ANDROID_SERIAL=Y adb shell true', { file: 'adb', args: ['shell', 'true'], androidSerial: 'Y' }],
    ['env -u ANDROID_SERIAL adb shell true', { file: 'adb', args: ['shell', 'true'], androidSerial: null }],
    ['env -i ANDROID_ADB_SERVER_PORT=5038 adb devices', { file: 'adb', args: ['devices'], androidSerial: null }],
    ['env -u HOME adb devices', { file: 'adb', args: ['devices'] }],
    ['exec adb logcat -d', { file: 'adb', args: ['logcat', '-d'] }],
    ['adb devices | grep device', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices || true', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb wait-for-device && adb shell true', { file: 'adb', args: ['wait-for-device'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices; echo done', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices & wait', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices > /tmp/out.txt 2>&1', { file: 'adb', args: ['devices'], stdoutIsAdbs: false, stdoutReachesCaller: false, stderrIsAdbs: false }],
    ['adb logcat -d 2>/dev/null', { file: 'adb', args: ['logcat', '-d'], stderrIsAdbs: false }],
    ['adb logcat -d >>log &>/dev/null', { file: 'adb', args: ['logcat', '-d'], stdoutIsAdbs: false, stdoutReachesCaller: false, stderrIsAdbs: false }],
    ['adb devices # list\necho x', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices;  ;\n# done\n', { file: 'adb', args: ['devices'] }],
    ['adb devices &', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices 1>&2', { file: 'adb', args: ['devices'], stdoutIsAdbs: false, stdoutReachesCaller: false }],
    ['adb devices 2>&1 | tr -d x', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false, stderrIsAdbs: false }],
    ['adb devices 12>x', { file: 'adb', args: ['devices'] }],
    ['adb push "my file.txt" /sdcard/ < /dev/null', { file: 'adb', args: ['push', 'my file.txt', '/sdcard/'] }],
    ['adb "devices"', { file: 'adb', args: ['devices'] }],
    ['adb devices # list them', { file: 'adb', args: ['devices'] }],
    ['adb shell echo a#b', { file: 'adb', args: ['shell', 'echo', 'a#b'] }],
    ['adb shell echo \\\n  more', { file: 'adb', args: ['shell', 'echo', 'more'] }],
    ['adb shell ls *.txt', { file: 'adb', args: ['shell', 'ls', '*.txt'] }],
    ['adb shell echo price$', { file: 'adb', args: ['shell', 'echo', 'price$'] }],
    ['C:\\sdk\\adb.exe devices', null], // backslashes are escapes in sh: C:sdkadb.exe
    ['"C:\\sdk\\adb.exe" devices', { file: 'C:\\sdk\\adb.exe', args: ['devices'] }],
    ['ls /sdcard', null],
    ['echo adb', null],
    ['sudo adb devices', null],
    ['adb -s $SERIAL shell ls', null],
    ['adb -s ${SERIAL} shell ls', null],
    ['adb shell "echo $HOME"', null],
    ['adb shell `cat cmd`', null],
    ['adb shell $(cat cmd)', null],
    ['(adb devices)', null],
    ['adb shell <<EOF\nls\nEOF', null],
    ["adb shell 'unterminated", null],
    ['adb shell "unterminated', null],
    ['adb devices >', null],
    ['env --chdir=/ adb devices', null],
    ['', null],
    ['adb ' + 'x '.repeat(5000), null],
  ];
  // Unless a case says otherwise, the whole outcome of the line is adb's.
  const whole = { exitIsAdbs: true, stdoutIsAdbs: true, stdoutReachesCaller: true, stderrIsAdbs: true };
  for (const [cmd, expected] of cases) t.same(parseShellCommandLine(cmd), expected === null ? null : { ...whole, ...expected }, JSON.stringify(cmd));
  t.same(parseShellCommandLine('/opt/bridge -s X devices', '/opt/bridge'), { file: '/opt/bridge', args: ['-s', 'X', 'devices'], ...whole });
  t.equal(parseShellCommandLine(42 as unknown as string), null);
  // The decoded exec string feeds the same decoder as spawn arguments.
  const p = parseShellCommandLine(`adb -s R58M41ABCDE shell "am broadcast -a android.provider.Telephony.SMS_DELIVER --es pdu 0791"`);
  t.ok(p);
  const d = decodeAdbArgs(p!.args);
  t.equal(d.operation, 'shell');
  t.equal(d.serial, 'R58M41ABCDE');
  t.ok(isSmsInjection(d));
  t.same(commandArgsForSpan(d), ['adb', '-s', 'shell', 'am']);
});

t.test('classifyAdbError: a shell line that goes on after adb, and errors adb printed on stdout', async (t) => {
  // `adb -s X shell getprop | tr -d '\r'`: the pipeline's status is tr's (0), adb's error is on stderr.
  t.equal(classifyAdbError({ exitCode: 0, stderr: "error: device 'X' not found\n", exitIsAdbs: false }), 'device_not_found');
  // `adb devices | grep -q emulator`: grep's 1 is no adb failure.
  t.equal(classifyAdbError({ exitCode: 1, stderr: '', exitIsAdbs: false }), null);
  t.equal(classifyAdbError({ exitCode: 1, stderr: 'grep: x: No such file or directory\n', exitIsAdbs: false }), null);
  t.equal(classifyAdbError({ exitCode: 0, signal: 'SIGTERM', exitIsAdbs: false }), 'killed', 'a killed line is killed whoever exits last');
  t.equal(classifyAdbError({ exitCode: 0, stderr: "error: device 'X' not found\n" }), null, "adb's own exit 0 wins");
  // older adb (before its 2024 LinePrinter change): the sync client's errors on stdout.
  t.equal(classifyAdbError({ exitCode: 1, stderr: '', stdout: "adb: error: failed to get feature set: device 'R58M123ABC' not found\n" }), 'device_not_found');
  t.equal(classifyAdbError({ exitCode: 1, stderr: 'error: device offline\n', stdout: 'adb: error: failed to get feature set: no devices/emulators found\n' }), 'offline', 'stderr first');
  t.equal(classifyAdbError({ exitCode: 1, stdout: '/sdcard/x: 1 file pushed\n' }), 'exit_nonzero');
  t.ok(errorsMayBeOnStdout('push') && errorsMayBeOnStdout('pull') && errorsMayBeOnStdout('install'));
  t.notOk(errorsMayBeOnStdout('shell') || errorsMayBeOnStdout('exec-out') || errorsMayBeOnStdout('logcat'), "a remote program's output is not adb's");
});

t.test('parseShellCommandLine on Windows: the line as cmd.exe splits it (backslashes are path separators)', async (t) => {
  const whole = { exitIsAdbs: true, stdoutIsAdbs: true, stdoutReachesCaller: true, stderrIsAdbs: true };
  const cases: Array<[string, (Partial<ShellCommandLine> & { file: string; args: string[] }) | null]> = [
    // The public CardLink's fallback location of adb on Windows (veenone/cardlink src/cardlink/phone/adb_client.py), user name filled in.
    ['C:\\Users\\lab\\AppData\\Local\\Android\\Sdk\\platform-tools\\adb.exe devices -l', { file: 'C:\\Users\\lab\\AppData\\Local\\Android\\Sdk\\platform-tools\\adb.exe', args: ['devices', '-l'] }],
    ['C:\\platform-tools\\adb.exe -s R58M123ABC shell getprop ro.product.model', { file: 'C:\\platform-tools\\adb.exe', args: ['-s', 'R58M123ABC', 'shell', 'getprop', 'ro.product.model'] }],
    ['"C:\\Program Files\\Android\\adb.exe" -s "emulator-5554" shell echo a^&b', { file: 'C:\\Program Files\\Android\\adb.exe', args: ['-s', 'emulator-5554', 'shell', 'echo', 'a&b'] }],
    ['adb devices | findstr device', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices && echo done', { file: 'adb', args: ['devices'], exitIsAdbs: false, stdoutIsAdbs: false }],
    ['adb devices > out.txt 2>&1', { file: 'adb', args: ['devices'], stdoutIsAdbs: false, stdoutReachesCaller: false, stderrIsAdbs: false }],
    ['adb logcat -d 2>nul', { file: 'adb', args: ['logcat', '-d'], stderrIsAdbs: false }],
    ["adb shell 'ls /sdcard'", { file: 'adb', args: ['shell', "'ls", "/sdcard'"] }],
    ['C:\\Users\\%USERNAME%\\adb.exe devices', null], // an expansion in the program: unknowable here
    ['adb shell date +%s', { file: 'adb', args: ['shell', 'date', '+%s'] }], // in an argument cmd.exe leaves it
    ['adb devices 3>nul', { file: 'adb', args: ['devices'] }],
    ['adb devices ^', { file: 'adb', args: ['devices'] }],
    ['(adb devices)', null],
    ['adb shell "unterminated', null],
    ['dir adb', null],
  ];
  for (const [cmd, expected] of cases) t.same(parseShellCommandLine(cmd, undefined, 'win32'), expected === null ? null : { ...whole, ...expected }, JSON.stringify(cmd));
  // The shell Node runs: cmd.exe unless the application named another one.
  const { lineDialect } = await import('../instrumentations/adb/call-args.js');
  t.same(
    [lineDialect(undefined, 'win32'), lineDialect({ shell: true }, 'win32'), lineDialect({ shell: 'C:\\Windows\\System32\\cmd.exe' }, 'win32'), lineDialect({ shell: 'C:\\Program Files\\Git\\bin\\bash.exe' }, 'win32'), lineDialect({ shell: 'powershell.exe' }, 'win32'), lineDialect({ shell: '/bin/bash' }, 'linux')],
    ['win32', 'win32', 'win32', 'posix', 'posix', 'linux'],
  );
  // The same line elsewhere: sh's rules, where a backslash escapes (not adb).
  t.equal(parseShellCommandLine('C:\\platform-tools\\adb.exe devices', undefined, 'linux'), null);
});

t.test('stdoutRefusal: adb connect and the emulator console say they failed on stdout, with exit 0', async (t) => {
  t.equal(stdoutRefusal('connect', "failed to connect to '127.0.0.1:1': Connection refused\n"), 'connect_failed');
  t.equal(stdoutRefusal('connect', "* daemon started successfully\ncannot connect to 10.0.0.9:5555: No route to host (113)\n"), 'connect_failed');
  t.equal(stdoutRefusal('connect', 'connected to 10.0.0.9:5555\n'), null);
  t.equal(stdoutRefusal('connect', 'already connected to 10.0.0.9:5555\n'), null);
  t.equal(stdoutRefusal('emu', 'KO: bad PDU\r\n'), 'console_refused');
  t.equal(stdoutRefusal('emu', 'KO\n'), 'console_refused');
  t.equal(stdoutRefusal('emu', 'OK\r\n'), null);
  t.equal(stdoutRefusal('emu', 'KOALA\n'), null);
  t.equal(stdoutRefusal('shell', "failed to connect to 'x': y\n"), null, "a remote program's output is not adb's");
});

t.test('isLiveLogcat: only a logcat that keeps reading the log', async (t) => {
  const live = (args: string[]): boolean => isLiveLogcat(decodeAdbArgs(args));
  t.ok(live(['logcat']));
  t.ok(live(['-s', 'X', 'logcat', '-b', 'radio', '-v', 'threadtime', '*:S', 'RILJ:V']));
  t.ok(live(['logcat', '-T', '10']), '-T prints the recent lines, then keeps reading');
  for (const dump of [['logcat', '-d'], ['logcat', '-b', 'radio', '-d'], ['logcat', '-t', '100'], ['logcat', '-t100'], ['logcat', '-c'], ['logcat', '--clear'], ['logcat', '-g'], ['logcat', '-L'], ['logcat', '--dump']]) {
    t.notOk(live(dump), dump.join(' '));
  }
  t.notOk(live(['shell', 'logcat']), 'not the logcat subcommand');
});

t.test('classifyAdbError: adb 29 messages, exit status, spawn failures', async (t) => {
  const unauthorizedLong =
    "error: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.\n";
  const cases: Array<[Parameters<typeof classifyAdbError>[0], string | null]> = [
    [{ exitCode: 0, stderr: '' }, null],
    [{ exitCode: 0, stderr: 'error: device offline\n' }, null],
    [{ exitCode: null }, null],
    [{ exitCode: 1, stderr: 'error: no devices/emulators found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: '* daemon not running; starting now at tcp:5037\n* daemon started successfully\nerror: no devices/emulators found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: 'adb: no devices/emulators found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: 'error: no devices found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: 'error: no emulators found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: "error: device 'X' not found\n" }, 'device_not_found'],
    [{ exitCode: 1, stderr: "adb: device 'emulator-5556' not found\r\n" }, 'device_not_found'],
    [{ exitCode: 1, stderr: "error: no device with transport id '3'\n" }, 'device_not_found'],
    [{ exitCode: 1, stderr: 'error: device not found\n' }, 'device_not_found'],
    [{ exitCode: 1, stderr: 'error: device unauthorized.\n' }, 'unauthorized'],
    [{ exitCode: 1, stderr: unauthorizedLong }, 'unauthorized'],
    [{ exitCode: 1, stderr: 'adb: device unauthorized.\n' }, 'unauthorized'],
    [{ exitCode: 1, stderr: 'error: device still authorizing\n' }, 'unauthorized'],
    [{ exitCode: 1, stderr: 'error: insufficient permissions for device: user in plugdev group; are your udev rules wrong?\n' }, 'unauthorized'],
    [{ exitCode: 1, stderr: 'error: device offline\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb: device offline' }, 'offline'],
    [{ exitCode: 1, stderr: 'error: device still connecting\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'error: more than one device/emulator\n' }, 'more_than_one_device'],
    [{ exitCode: 1, stderr: 'adb: more than one device/emulator\n' }, 'more_than_one_device'],
    [{ exitCode: 1, stderr: 'error: more than one USB device\n' }, 'more_than_one_device'],
    // Newer adb: the failed step, then the reason; errors prefixed with adb's own executable name.
    [{ exitCode: 1, stderr: 'adb: error: failed to get feature set: no devices/emulators found\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: 'adb: error: failed to get feature set: device offline\n' }, 'offline'],
    [{ exitCode: 1, stderr: "adb: error: failed to get feature set: device 'R58M123ABC' not found\n" }, 'device_not_found'],
    [{ exitCode: 1, stderr: 'adb: error: failed to get feature set: more than one device/emulator\n' }, 'more_than_one_device'],
    [{ exitCode: 1, stderr: 'adb: unable to connect for root: device offline\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb: unable to connect for unroot: device unauthorized.\n' }, 'unauthorized'],
    [{ exitCode: 1, stderr: 'get-state error: device offline\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb.exe: no devices/emulators found\r\n' }, 'no_devices'],
    [{ exitCode: 1, stderr: 'ADB.EXE: device offline\r\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb.exe: error: failed to get feature set: device offline\r\n' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb-35: device offline\n', executableName: 'adb-35' }, 'offline'],
    [{ exitCode: 1, stderr: 'adb-35: device offline\n' }, 'exit_nonzero'],
    [{ exitCode: 1, stderr: 'sh: unable to connect for root: device offline\n' }, 'exit_nonzero'],
    [{ exitCode: 1, stderr: 'adb: unknown command frobnicate\n' }, 'exit_nonzero'],
    [{ exitCode: 1, stderr: 'ls: /data: Permission denied\n' }, 'exit_nonzero'],
    // A remote program's stderr that merely mentions the words is not adb's verdict.
    [{ exitCode: 2, stderr: 'my-tool: device offline detected, retrying\n' }, 'exit_nonzero'],
    [{ exitCode: 255, stderr: '' }, 'exit_nonzero'],
    [{ exitCode: 1 }, 'exit_nonzero'],
    [{ spawnErrorCode: 'ENOENT' }, 'adb_missing'],
    [{ spawnErrorCode: 'EACCES' }, 'adb_missing'],
    [{ spawnErrorCode: 'EAGAIN' }, 'exit_nonzero'],
    [{ exitCode: null, signal: 'SIGTERM' }, 'killed'],
    [{ exitCode: null, signal: 'SIGKILL', timedOut: true }, 'killed'],
    [{ exitCode: 1, timedOut: true, stderr: 'error: device offline' }, 'killed'],
  ];
  for (const [o, expected] of cases) t.equal(classifyAdbError(o), expected, JSON.stringify(o));
  // Only the ends of a long stderr are read.
  const filler = 'x'.repeat(200) + '\n';
  t.equal(classifyAdbError({ exitCode: 1, stderr: 'error: device offline\n' + filler.repeat(100) }), 'offline');
  t.equal(classifyAdbError({ exitCode: 1, stderr: filler.repeat(100) + 'error: device offline\n' }), 'offline');
  t.equal(classifyAdbError({ exitCode: 1, stderr: filler.repeat(50) + 'error: device offline\n' + filler.repeat(50) }), 'exit_nonzero');
  t.equal(classifyAdbError(null as unknown as {}), null);
});

t.test('parseAdbDevices: real listings', async (t) => {
  // adb 29 with a private server and no phone (stdout only; the daemon lines go to stderr).
  t.same(parseAdbDevices('List of devices attached\n\n'), { devices: [], malformed: 0, truncated: false });
  // `adb devices` (tab separated) with mixed states.
  const short =
    '* daemon not running; starting now at tcp:5037\n' +
    '* daemon started successfully\n' +
    'List of devices attached\n' +
    'emulator-5554\tdevice\n' +
    'R58M41ABCDE\tunauthorized\n' +
    '192.168.1.23:5555\toffline\n' +
    '0123456789ABCDEF\tno permissions (user in plugdev group; are your udev rules wrong?); see [http://developer.android.com/tools/device.html]\n' +
    'HT4A1JT00012\tbootloader\n' +
    'adb-R58M41ABCDE-Jd0Pvq._adb-tls-connect._tcp.\tdevice\n' +
    '\n';
  const s = parseAdbDevices(short);
  t.equal(s.malformed, 0);
  t.same(
    s.devices.map((d) => [d.serial, d.state]),
    [
      ['emulator-5554', 'device'],
      ['R58M41ABCDE', 'unauthorized'],
      ['192.168.1.23:5555', 'offline'],
      ['0123456789ABCDEF', 'no permissions'],
      ['HT4A1JT00012', 'bootloader'],
      ['adb-R58M41ABCDE-Jd0Pvq._adb-tls-connect._tcp.', 'device'],
    ],
  );
  t.equal(countOnline(s.devices), 2);

  // `adb devices -l` (adb pads the serial with %-22s), CRLF as on Windows.
  const long = [
    'List of devices attached',
    'emulator-5554          device product:sdk_gphone64_x86_64 model:sdk_gphone64_x86_64 device:emu64xa transport_id:1',
    'R58M41ABCDE            device usb:1-1.2 product:beyond1ltexx model:SM_G973F device:beyond1 transport_id:2',
    '0a388e93               unauthorized usb:1-2 transport_id:3',
    '192.168.1.23:5555      offline transport_id:4',
    'HT4A1JT00012           no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html] usb:3-1 transport_id:5',
    'ZY2245XYZ              recovery usb:1-3 product:omni_x model:moto_g device:x transport_id:6',
    'emulator-5556          sideload product:p model:m device:d transport_id:7',
    '(no serial number)     device usb:1-4 product:foo transport_id:8',
    'emulator-5558          host transport_id:9',
    '',
  ].join('\r\n');
  const l = parseAdbDevices(long);
  t.equal(l.malformed, 0);
  t.equal(l.devices.length, 9);
  t.same(l.devices[0], {
    serial: 'emulator-5554',
    state: 'device',
    product: 'sdk_gphone64_x86_64',
    model: 'sdk_gphone64_x86_64',
    device: 'emu64xa',
    transportId: 1,
  });
  t.same(l.devices[1], {
    serial: 'R58M41ABCDE',
    state: 'device',
    usb: '1-1.2',
    product: 'beyond1ltexx',
    model: 'SM_G973F',
    device: 'beyond1',
    transportId: 2,
  });
  t.same(l.devices[2], { serial: '0a388e93', state: 'unauthorized', usb: '1-2', transportId: 3 });
  t.same(l.devices[4], { serial: 'HT4A1JT00012', state: 'no permissions', usb: '3-1', transportId: 5 });
  t.equal(l.devices[7]?.serial, '(no serial number)');
  t.equal(countOnline(l.devices), 3);

  // Android docs sample (single spaces).
  const docs = parseAdbDevices(
    'List of devices attached\nemulator-5556 device product:sdk_google_phone_x86_64 model:Android_SDK_built_for_x86_64 device:generic_x86_64\n0a388e93      device usb:1-1 product:razor model:Nexus_7 device:flo\n',
  );
  t.same(docs.devices.map((d) => d.model), ['Android_SDK_built_for_x86_64', 'Nexus_7']);

  // Garbage lines are counted, never thrown.
  const g = parseAdbDevices('List of devices attached\nhello\nfoo bar baz\nemulator-5554\tdevice\n\u0000\u0001\nx\tonline\n');
  t.equal(g.devices.length, 1);
  t.equal(g.malformed, 4);
  t.same(parseAdbDevices(undefined as unknown as string), { devices: [], malformed: 0, truncated: false });
});

t.test('parseAdbDevices: bounds', async (t) => {
  let text = 'List of devices attached\n';
  for (let i = 0; i < MAX_DEVICES + 50; i++) text += `serial${i}\tdevice\n`;
  const r = parseAdbDevices(text);
  t.equal(r.devices.length, MAX_DEVICES);
  t.equal(r.truncated, true);
  const longSerial = parseAdbDevices('s'.repeat(MAX_SERIAL_LENGTH + 1) + '\tdevice\n');
  t.same([longSerial.devices.length, longSerial.malformed], [0, 1]);
  const huge = parseAdbDevices('x'.repeat(300_000));
  t.equal(huge.truncated, true);
  t.equal(huge.devices.length, 0);
});

t.test('isSmsInjection', async (t) => {
  const yes: string[][] = [
    ['shell', 'am', 'broadcast', '-a', 'android.provider.Telephony.SMS_DELIVER', '--es', 'format', '3gpp', '--eia', 'pdu', '7'],
    ['shell', 'am broadcast -a android.provider.Telephony.SMS_RECEIVED -n com.x/.SmsReceiver'],
    ['-s', 'X', 'shell', "su -c 'am broadcast -a android.provider.Telephony.SMS_DELIVER'"],
    ['shell', 'su', '0', '-c', '"cmd activity broadcast -a android.provider.Telephony.SMS_DELIVER"'],
    ['shell', 'content', 'insert', '--uri', 'content://sms/inbox', '--bind', 'address:s:+15551234', '--bind', 'body:s:hi'],
    ['shell', 'content insert --uri content://sms --bind body:s:x'],
    ['shell', 'service call isms 5 i32 1 s16 "com.android.mms.service" s16 "null" s16 "+15551234" s16 "null" s16 "hello" s16 "null" s16 "null"'],
    ['shell', "service call phone 138 s16 'AT+CMGS=23\r0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a'"],
    ['shell', 'echo -e "AT+CMGS=23\r0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a" > /dev/smd0'],
    ['shell', "echo -e 'AT+CMGS=23\\r0011000B91\\x1a' > /dev/smd11"],
    ['exec-out', 'am', 'broadcast', '-a', 'android.provider.Telephony.SMS_DELIVER'],
    ['emu', 'sms', 'send', '5551234', 'hello'],
    ['-e', 'emu', 'sms', 'pdu', '0791'],
  ];
  const no: string[][] = [
    ['shell', 'am', 'start', '-a', 'android.provider.Telephony.SMS_DELIVER'],
    ['shell', 'am broadcast -a android.intent.action.BOOT_COMPLETED'],
    ['shell', 'content query --uri content://sms/inbox'],
    ['shell', 'content insert --uri content://smsx/inbox'],
    ['shell', 'service call isms 3 s16 com.android.shell'],
    ['shell', 'service call phone 5 s16 "AT+CSQ"'],
    // AT+CMGS without its body sends nothing yet: the body and Ctrl-Z come next (one SMS, one trigger).
    ['shell', 'service call phone 138 s16 "AT+CMGS=23"'],
    ['shell', "echo -e 'AT+CMGS=23\\r' > /dev/smd0 && timeout 5 cat /dev/smd0"],
    ['shell', 'echo -e "AT+CMGS=23\r0011\x1a" > /sdcard/at.txt'],
    ['shell', 'echo am broadcast -a android.provider.Telephony.SMS_DELIVER'],
    ['shell'],
    ['emu', 'kill'],
    ['emu', 'sms'],
    ['devices'],
    ['push', 'android.provider.Telephony.SMS_DELIVER', '/sdcard'],
  ];
  for (const a of yes) t.ok(isSmsInjection(decodeAdbArgs(a)), a.join(' '));
  for (const a of no) t.notOk(isSmsInjection(decodeAdbArgs(a)), a.join(' '));
  // A command fed separately (e.g. written to an interactive `adb shell`'s stdin).
  t.ok(isSmsInjection(decodeAdbArgs(['shell']), 'am broadcast -a android.provider.Telephony.SMS_DELIVER'));
  t.notOk(isSmsInjection(null as unknown as ReturnType<typeof decodeAdbArgs>));
});

t.test('phoneActions: CardLink\'s phone controller, command by command', async (t) => {
  const PDU = '0011000B916407281553F80000AA0AE8329BFD4697D9EC37';
  const cases: Array<[string, string | null, string | null]> = [
    // at_interface.py: the raw OEM request through the phone service (probe, then each command).
    ['service call phone 1', null, null],
    ["service call phone 115 i32 1 i32 8 s16 'AT+CPIN?'", '+CPIN', null],
    ["service call phone 142 s16 'AT+CSIM=10,\"80F2000000\"'", '+CSIM', null],
    ["service call phone 115 i32 1 i32 9 s16 'AT+CMGF=0'", '+CMGF', null],
    ["service call phone 115 i32 1 i32 10 s16 'AT+CMGS=23'", '+CMGS', null],
    // ... or by echo into the modem's device node (root), with the CR as a byte or as `\r` for echo -e.
    ["echo -e 'AT+CPIN?\r' > /dev/smd0 && timeout 5.0 cat /dev/smd0", '+CPIN', null],
    ["echo -e 'AT\\r' > /dev/smd7 && timeout 2.0 cat /dev/smd7", 'AT', null],
    ["printf 'ATE0\\r' >/dev/smd11", 'E', null],
    // sms_trigger.py: the whole submission in one echo, then the content provider, then the broadcast.
    [`echo -e "AT+CMGS=23\r${PDU}\x1a" > /dev/smd0`, '+CMGS', 'modem_device'],
    [`content insert --uri content://sms/inbox --bind protocol:i:0 --bind body:s:${PDU}`, null, 'content_provider'],
    [`am broadcast -a android.provider.Telephony.SMS_DELIVER -n com.android.phone/.InboundSmsHandler --es "pdu" "${PDU}"`, null, 'broadcast'],
    [`content insert --uri content://sms/inbox --bind address:s:"+15551234" --bind body:s:"hello" --bind read:i:0`, null, 'content_provider'],
    // Wrapped in su / sh -c.
    [`su -c 'service call phone 115 i32 1 i32 8 s16 "AT+COPS?"'`, '+COPS', null],
    [`su 0 sh -c "echo -e 'AT+CMGS=5\r00\x1a' > /dev/smd0"`, '+CMGS', 'modem_device'],
    // Not the modem: another node, another service, no AT text.
    ["echo -e 'AT+CPIN?\r' > /dev/ttyS0", null, null],
    ["echo 'AT+CPIN?'", null, null],
    ["service call iphonesubinfo 1 s16 'AT+CPIN?'", null, null],
    ["service call phone 115 s16 'hello'", null, null],
    ['getprop ro.product.model', null, null],
  ];
  for (const [cmd, at, sms] of cases) {
    const a = phoneActions(decodeAdbArgs(['-s', 'R58M123ABC', 'shell', cmd]));
    t.same([a.atCommand, a.smsMethod], [at, sms], cmd);
  }
  // CardLink passes the remote command as one argument (`adb -s X shell "<command>"`); split words work the same.
  t.same(phoneActions(decodeAdbArgs(['shell', 'service', 'call', 'phone', '115', 'i32', '1', 'i32', '8', 's16', 'AT+CPIN?'])), {
    atCommand: '+CPIN',
    smsMethod: null,
  });
  t.same(phoneActions(decodeAdbArgs(['emu', 'sms', 'send', '5551234', 'hi'])), { atCommand: null, smsMethod: 'emulator_console' });
  t.same(phoneActions(decodeAdbArgs(['devices'])), { atCommand: null, smsMethod: null });
  t.same(phoneActions(null as unknown as ReturnType<typeof decodeAdbArgs>), { atCommand: null, smsMethod: null });
  // The name is bounded by the at-names rules whatever the text.
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (x) => {
      const a = phoneActions(decodeAdbArgs(['shell', `service call phone 115 s16 'AT${x.replace(/'/g, '')}'`]));
      return a.atCommand === null || a.atCommand === 'AT' || /^([+^$#%*@!][A-Z0-9_./-]{1,15}|&[A-Z]|S\d{1,3}|[A-Z])$/.test(a.atCommand);
    }),
    { numRuns: 500 },
  );
});

t.test('properties: never throws, bounded domains', async (t) => {
  const ops = new Set<string>(ADB_OPERATIONS);
  const errs = new Set<string>(ADB_ERROR_TYPES);
  const states = new Set<string>(ADB_DEVICE_STATES);
  const word = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('-s', '-t', '-H', '-P', '-L', '-d', '-e', '-a', '--one-device', 'shell', 'devices', 'wait-for-usb-device', '-sX', '--', '-n', '-e', 'sms', 'send', 'emu', 'am', 'broadcast'),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 12 }), (args) => {
      const d = decodeAdbArgs(args);
      if (!ops.has(d.operation)) return false;
      const span = commandArgsForSpan(d);
      isSmsInjection(d);
      return span[0] === 'adb' && span.length <= 64;
    }),
    { numRuns: 1500 },
  );
  // Serials and arguments never reach process.command_args (markers SER / ARG would show).
  const globalArb = fc.array(
    fc.oneof(
      fc.nat(999).map((n) => ['-s', `SER${n}`]),
      fc.nat(999).map((n) => [`-sSER${n}`]),
      fc.nat(999).map((n) => ['--one-device', `SER${n}`]),
      fc.nat(99).map((n) => ['-t', String(n)]),
      fc.constantFrom(['-d'], ['-e'], ['-a'], ['-H', 'ARGhost'], ['-P', '5038'], ['-L', 'tcp:ARG:5037']),
    ),
    { maxLength: 4 },
  );
  const restArb = fc.array(
    fc.oneof(
      fc.string({ maxLength: 8 }).map((x) => `ARG${x}`),
      fc.constantFrom('-l', '-r', '-k', '-d', '--sync', 'bootloader', '--list', '-n', '-T', '-e'),
    ),
    { maxLength: 8 },
  );
  fc.assert(
    fc.property(globalArb, fc.constantFrom(...ADB_OPERATIONS, 'wait-for-usb-device', 'pair'), fc.constantFrom('am', 'pm', '/system/bin/input'), restArb, (g, op, prog, rest) => {
      const args = [...g.flat(), op, ...(op === 'shell' || op === 'exec-out' ? [prog] : []), ...rest];
      const span = commandArgsForSpan(decodeAdbArgs(args));
      return span.every((w) => !w.includes('SER') && !w.includes('ARG'));
    }),
    { numRuns: 1500 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseShellCommandLine(s);
      parseShellCommandLine('adb ' + s);
      remoteProgramName(s);
      isSmsInjection(decodeAdbArgs(['shell', s]));
      const e = classifyAdbError({ exitCode: 1, stderr: s });
      return e !== null && errs.has(e);
    }),
    { numRuns: 1500 },
  );
  const lineArb = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom(...ADB_DEVICE_STATES), fc.string({ maxLength: 40 })).map(([a, b, c]) => `${a}\t${b} ${c}`),
  );
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 40 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
      const r = parseAdbDevices(lines.join(eol));
      if (r.devices.length > MAX_DEVICES) return false;
      if (r.devices.length + r.malformed > lines.length) return false;
      if (countOnline(r.devices) > r.devices.length) return false;
      return r.devices.every((d) => states.has(d.state) && d.serial.length <= MAX_SERIAL_LENGTH && d.serial.length > 0);
    }),
    { numRuns: 1000 },
  );
  t.pass('properties hold');
});

/** A free TCP port for a private adb server. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

t.test('real adb (Debian adb 29) agrees with the classifier', { skip: existsSync('/usr/bin/adb') ? false : 'no /usr/bin/adb' }, async (t) => {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), 'adb-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ANDROID_ADB_SERVER_PORT: String(port) };
  delete env.ANDROID_SERIAL;
  const run = (args: string[]) => spawnSync('/usr/bin/adb', args, { env, encoding: 'utf8', timeout: 20_000 });
  t.teardown(() => {
    run(['kill-server']);
    rmSync(home, { recursive: true, force: true });
  });
  const devices = run(['devices', '-l']);
  t.equal(devices.status, 0);
  const listing = parseAdbDevices(devices.stdout);
  t.equal(listing.malformed, 0);
  t.equal(countOnline(listing.devices), 0, 'no phone on the build machine');
  const none = run(['shell', 'true']);
  t.equal(none.status, 1);
  t.match(none.stderr, /error: no devices\/emulators found/);
  t.equal(classifyAdbError({ exitCode: none.status, signal: none.signal, stderr: none.stderr }), 'no_devices');
  const missing = run(['-s', 'X', 'shell', 'true']);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /error: device 'X' not found/);
  t.equal(classifyAdbError({ exitCode: missing.status, stderr: missing.stderr }), 'device_not_found');
  const tid = run(['-t', '3', 'shell', 'true']);
  t.equal(classifyAdbError({ exitCode: tid.status, stderr: tid.stderr }), 'device_not_found');
  const bad = run(['frobnicate']);
  t.equal(classifyAdbError({ exitCode: bad.status, stderr: bad.stderr }), 'exit_nonzero');
  const gone = spawnSync('/nonexistent/adb', ['devices']);
  t.equal(classifyAdbError({ spawnErrorCode: (gone.error as NodeJS.ErrnoException | undefined)?.code }), 'adb_missing');
});
