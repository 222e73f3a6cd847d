/**
 * The responses the reactor sends itself when it refuses a request before the app sees it
 * (crates/tsgi-reactor/src/refusal.rs). The body is the reason phrase; nothing from the
 * request is ever echoed.
 */

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
};

function reasonOf(status: number): [number, string] {
  const reason = REASONS[status];
  return reason ? [status, reason] : [500, 'Internal Server Error'];
}

/** As an HTTP response, announcing the close that follows. */
export function httpRefusal(status: number): Buffer {
  const [code, reason] = reasonOf(status);
  return Buffer.from(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\nConnection: close\r\n\r\n${reason}\n`,
    'latin1',
  );
}

/** As a CGI response (FastCGI STDOUT). */
export function cgiRefusal(status: number): Buffer {
  const [code, reason] = reasonOf(status);
  return Buffer.from(`Status: ${code} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`, 'latin1');
}
