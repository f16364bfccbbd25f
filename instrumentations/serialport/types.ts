import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/**
 * Public configuration of the `serialport` instrumentation (IoT modems driven by AT commands).
 *
 * What it records, per modem port (every `serialport` 10-13 port unless `portFilter` says otherwise):
 *
 * - span `at <command>` (CLIENT) per AT command, from the write of its command line to its final
 *   result, with `cardlink.at.command`, `cardlink.at.command.kind`, `cardlink.at.result`,
 *   `cardlink.modem.port` (the path the port was opened with) and `cardlink.device.type = modem`;
 *   metric `cardlink_at_command_duration_seconds{command}` for commands the modem answered (not for
 *   `timeout`, `closed`, `overflow`, which have no round trip), and
 *   `cardlink_device_errors_total{device_type="modem",error_type}` for `error`, `cme_error`,
 *   `cms_error`, `timeout`, `no_carrier`, `busy`, `no_answer`, `no_dialtone`, and `disconnected`
 *   (the port vanished: an unplugged USB modem);
 * - `AT+CSIM` / `AT+CRSM` answered by the card: the APDU metrics and `apdu.<COMMAND_TYPE>` spans of
 *   the TLS path with `device_type="modem"`, children of the `at` span;
 * - `AT+CMGS` / `AT+CMSS` answered `+CMGS: <mr>`: `cardlink_triggers_sent_total{trigger_type="sms"}`,
 *   a `sms.trigger` span (PRODUCER), and the hand-over that makes the next OTA session `triggered`;
 * - `cardlink_devices_connected{device_type="modem"}`: open ports;
 * - the cards' SIM Toolkit proactive commands in STK URCs (`+CUSATP`, `+QSTK`, `+STKPCI` ...):
 *   `cardlink_bip_commands_total{command, device_type="modem"}` and a `bip.channel` span from OPEN
 *   CHANNEL to CLOSE CHANNEL (the application's `AT+CUSATT` terminal responses as its events), in
 *   the trace of the trigger sent through the same port.
 */
export interface SerialportInstrumentationConfig extends InstrumentationConfig {
  /**
   * Which ports are modems, by the path they were opened with (`/dev/ttyUSB2`). Ports for which this
   * returns false are left entirely alone (no decoding, not counted). Default: every port. A
   * throwing filter counts as false (reported once).
   */
  portFilter?: (path: string) => boolean;
  /** Timeout of AT commands not listed in `commandTimeoutsMs` (default 5000 ms). */
  defaultTimeoutMs?: number;
  /**
   * Per-command timeouts in ms, keyed by command name (`+CSIM`, `D`) or name plus form (`+COPS=?`,
   * `+CPIN?`), merged over the defaults (60 s for `+CMGS`, `+CMSS`, `+CMGW`, `+COPS=?`).
   */
  commandTimeoutsMs?: Readonly<Record<string, number>>;
  /**
   * A command still unanswered this long when the application writes its next command line is taken
   * as given up by the application and ends as `timeout` right then (default 1000 ms).
   */
  abandonAfterMs?: number;
  /**
   * Put the command line with its arguments on `at` spans as `cardlink.at.command_line` (default
   * false: only the command name). PIN and password commands (`+CPIN`, `+CPWD`, `+CLCK`, `+CPINR`,
   * `+CGAUTH`, and the vendors' packet-data logins: `^SGAUTH`, `^SICS`, `$QCPDPP`, `%IPDPCFG`,
   * `+UAUTHREQ`, `+CSTT`, `+QICSGP`, `#SGACT`) never carry
   * their arguments, wherever they stand in a chained line; `+CSIM` / `+CRSM` / `+CMGS` carry theirs
   * only with `captureApduData`, and PUT KEY / STORE DATA data never.
   */
  captureAtArguments?: boolean;
  /**
   * Put C-APDU / R-APDU payloads of `AT+CSIM` on `apdu.*` spans (`cardlink.apdu.command`,
   * `cardlink.apdu.response`), as the `tls` instrumentation does (default false; PUT KEY / STORE
   * DATA data never).
   */
  captureApduData?: boolean;
}
