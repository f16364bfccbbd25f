/** The `adb` instrumentation's spans and its `cardlink.*` attribute keys (docs/spans.md is generated from here). */
import { ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { ATTR_PROCESS_COMMAND_ARGS, ATTR_PROCESS_EXECUTABLE_NAME, ATTR_PROCESS_EXIT_CODE } from './semconv.js';
import { attr, type SpanDoc } from '../shared/span-catalogue.js';
import { APDU_ATTR, DEVICE_TYPE_ATTR } from '../shared/apdu-spans.js';
import { bipChannelSpanDoc } from '../shared/bip-spans.js';

export const ADB_ATTR = Object.freeze({
  operation: 'cardlink.adb.operation',
  deviceType: APDU_ATTR.deviceType,
  serial: 'cardlink.device.serial',
  transportId: 'cardlink.adb.transport_id',
  devicesListed: 'cardlink.adb.devices.listed',
  devicesOnline: 'cardlink.adb.devices.online',
  devicesMalformed: 'cardlink.adb.devices.malformed',
  devicesTruncated: 'cardlink.adb.devices.truncated',
  deviceState: 'cardlink.device.state',
  devicePreviousState: 'cardlink.device.previous_state',
  deviceModel: 'cardlink.device.model',
  triggerType: 'cardlink.trigger.type',
  smsMethod: 'cardlink.sms.method',
  /** The AT command a run sends to the phone's modem (`service call phone`, `echo > /dev/smd*`), by name. */
  atCommand: 'cardlink.at.command',
} as const);

/** Name of the span event written for each phone whose state changed between two `adb devices`. */
export const DEVICE_STATE_EVENT = 'cardlink.device.state_change';

const SERIAL = attr(ADB_ATTR.serial, 'the phone (`-s`, `ANDROID_SERIAL`)');

export const ADB_SPANS: readonly SpanDoc[] = [
  {
    name: 'adb <operation>',
    kind: 'CLIENT',
    brief: 'one adb run, spawn to exit; an error status when adb failed',
    attributes: [
      attr(ATTR_PROCESS_EXECUTABLE_NAME, "the executable's base name"),
      attr(ATTR_PROCESS_COMMAND_ARGS, 'adb and its subcommand, arguments of `shell` and the like left out'),
      attr(ADB_ATTR.operation, 'the subcommand after the global flags (`devices`, `shell`, `install` ...)'),
      DEVICE_TYPE_ATTR,
      SERIAL,
      attr(ADB_ATTR.transportId, '`-t`'),
      attr(ATTR_SERVER_ADDRESS, 'the adb server host (`-H`)'),
      attr(ATTR_SERVER_PORT, 'the adb server port (`-P`)'),
      attr(ADB_ATTR.atCommand, "the AT command a run sends to the phone's modem, by name"),
      attr(ATTR_PROCESS_EXIT_CODE, "adb's exit code"),
      attr(ATTR_ERROR_TYPE, 'the failure class (`no_devices`, `device_not_found`, `unauthorized`, `offline` ...)'),
      attr(ADB_ATTR.devicesListed, '`adb devices`: phones listed'),
      attr(ADB_ATTR.devicesOnline, '`adb devices`: phones in state `device`'),
      attr(ADB_ATTR.devicesMalformed, '`adb devices`: lines that could not be read'),
      attr(ADB_ATTR.devicesTruncated, '`adb devices`: the listing was longer than the bound (`maxDevicesOutputBytes`): not judged, device states stay as they were'),
    ],
    events: [
      {
        name: DEVICE_STATE_EVENT,
        brief: 'a phone whose state changed since the last `adb devices`',
        attributes: [
          SERIAL,
          attr(ADB_ATTR.deviceState, 'its state now'),
          attr(ADB_ATTR.devicePreviousState, 'its state before'),
          attr(ADB_ATTR.deviceModel, 'its model, when `-l` gave it'),
        ],
      },
    ],
  },
  {
    name: 'sms.trigger',
    kind: 'PRODUCER',
    brief: 'an SMS-PP injected into a phone through adb; the OTA session that follows links to it',
    attributes: [
      attr(ADB_ATTR.triggerType, '`sms`'),
      DEVICE_TYPE_ATTR,
      attr(ADB_ATTR.smsMethod, 'how it was injected (`content_provider`, `broadcast`, `service_call`, `emulator_console` ...)'),
      SERIAL,
      attr(ATTR_ERROR_TYPE, 'the failure class of the adb run when it failed'),
    ],
  },
  bipChannelSpanDoc(attr(ADB_ATTR.serial, 'the phone the radio log came from')),
];
