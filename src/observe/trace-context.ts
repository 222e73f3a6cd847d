/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace id of a request's
 * `traceparent` header, for the request log (`%(trace_id)`, `--log-json`'s `trace_id`),
 * so that a log line joins the trace a proxy or the client started. Only a well-formed
 * header counts: anything else is treated as absent, as the spec asks of a receiver.
 */

/** `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`: the length of version 00. */
const VERSION_00_LENGTH = 55;
const HEX = /^[0-9a-f]+$/;
const ZEROS = /^0+$/;

/** The trace id of `traceparent`, or null when it is absent or malformed. */
export function traceId(traceparent: string | undefined): string | null {
  if (traceparent === undefined || traceparent.length < VERSION_00_LENGTH) return null;
  const version = traceparent.slice(0, 2);
  // Version ff is forbidden; 00 is exactly 55 characters; a later version may add fields
  // after a dash, which a version-00 reader skips.
  if (!HEX.test(version) || version === 'ff') return null;
  if (version === '00' ? traceparent.length !== VERSION_00_LENGTH : traceparent.length > VERSION_00_LENGTH && traceparent[VERSION_00_LENGTH] !== '-')
    return null;
  if (traceparent[2] !== '-' || traceparent[35] !== '-' || traceparent[52] !== '-') return null;
  const trace = traceparent.slice(3, 35);
  const parent = traceparent.slice(36, 52);
  const flags = traceparent.slice(53, 55);
  if (!HEX.test(trace) || !HEX.test(parent) || !HEX.test(flags)) return null;
  if (ZEROS.test(trace) || ZEROS.test(parent)) return null;
  return trace;
}
