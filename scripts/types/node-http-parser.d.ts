/**
 * Node's internal HTTP parser binding, `process.binding('http_parser')`: llhttp as node:http
 * drives it, one execute() per read. It is deprecated and @types/node does not describe it;
 * the llhttp framing corpus (scripts/http-framing-corpus.mjs) and the codec benchmark
 * (bench/codec/contenders.mjs) use it to ask llhttp itself. Only what they use is here.
 */
export interface HttpParserError extends Error {
  /** llhttp's error name, e.g. HPE_INVALID_HEADER_TOKEN. */
  code?: string;
  reason?: string;
}

export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the error that stopped it. */
  execute(data: Buffer): number | HttpParserError;
  /** The callbacks, at the binding's kOn* indices. */
  [callback: number]: Function;
}

export interface HttpParserBinding {
  HTTPParser: {
    new (): HttpParser;
    REQUEST: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  /** Method names by llhttp's method number. */
  methods: string[];
}

/** `process.binding('http_parser')`, typed. */
export type ProcessWithBinding = { binding(name: 'http_parser'): HttpParserBinding };
