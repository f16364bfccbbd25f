/** The test reporter's spans (scope `cardlink-otel/test-runner`): docs/spans.md is generated from here. */
import { ATTR_CODE_FILE_PATH, ATTR_CODE_LINE_NUMBER } from '@opentelemetry/semantic-conventions';
import { attr, EXCEPTION_EVENT, type SpanDoc } from '../../instrumentations/shared/span-catalogue.js';

const WHERE = [attr(ATTR_CODE_FILE_PATH, 'the test file, as the runner reports it'), attr(ATTR_CODE_LINE_NUMBER, 'its line')];
const FAILURE = attr('cardlink.test.failure_type', "the runner's failure type (`testCodeFailure`, `hookFailure` ...)");

export const TEST_RUNNER_SPANS: readonly SpanDoc[] = [
  {
    name: 'suite <describe name>',
    kind: 'INTERNAL',
    brief: 'a describe block (named by its own name, nested or not), or the tests of a file outside any (named by the file); its tests and nested suites are its children',
    events: [EXCEPTION_EVENT],
    attributes: [
      attr('test.suite.name', 'the top-level suite it belongs to (the outermost describe: `suite_name` of the metrics), or the file relative to the working directory'),
      attr('test.suite.run.status', '`success`, `failure` or `skipped`'),
      ...WHERE,
      FAILURE,
    ],
  },
  {
    name: 'test <test.case.name>',
    kind: 'INTERNAL',
    brief: 'one test (from the reporter, or `recordTestResult`); an error status when it failed',
    events: [EXCEPTION_EVENT],
    attributes: [
      attr('test.suite.name', 'its top-level suite'),
      attr('test.case.name', 'the test, under its nested describes (` > `)'),
      attr('test.case.result.status', '`pass` or `fail` (absent when skipped)'),
      attr('cardlink.test.status', '`passed`, `failed`, `skipped` or `error`'),
      ...WHERE,
      FAILURE,
    ],
  },
];
