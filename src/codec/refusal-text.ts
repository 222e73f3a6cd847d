/**
 * The wording of the refusals uwsgi and FastCGI share (crates/tsgi-wire's `Refusal`
 * mapped into each protocol's error): one function, so the two say the same thing.
 */
import { KNOWN_KEYS } from './keys.js';
import { MAX_CONTENT_LENGTH, WireError, type Refusal } from './vars.js';

/** `protocol` is the log's word ("uwsgi", "FastCGI"); `noun` what a pair is called there. */
export function refusalError(protocol: 'uwsgi' | 'FastCGI', noun: 'var' | 'param', refusal: Refusal): WireError {
  const code = (name: string): string => `${protocol.toLowerCase()}_${name}`;
  switch (refusal.kind) {
    case 'conflict': {
      const name = KNOWN_KEYS[refusal.key - 1];
      return new WireError(code('conflicting_duplicate'), 400, `${protocol} ${noun} ${name} given twice with different values`);
    }
    case 'missing-method':
      return new WireError(code('missing_method'), 400, `${protocol} request has no REQUEST_METHOD ${noun}`);
    case 'invalid-method':
      return new WireError(code('invalid_method'), 400, `${protocol} REQUEST_METHOD is empty or not an HTTP token`);
    case 'invalid-content-length':
      return new WireError(code('invalid_content_length'), 400, `${protocol} CONTENT_LENGTH is not plain ASCII digits`);
    case 'content-length-overflow':
      return new WireError(code('content_length_overflow'), 400, `${protocol} CONTENT_LENGTH is over ${MAX_CONTENT_LENGTH} (2^53 - 1)`);
    case 'body-too-large':
      return new WireError(
        code('body_too_large'),
        413,
        `${protocol} request body of ${refusal.length} bytes is over limit-post ${refusal.limit} (raise --limit-post)`,
      );
  }
}
