/** The benchmark binding as the codec benchmarks and their test see it (binding.mjs). */
export interface ParsedBatch {
  requests: number;
  vars: number;
  bytes: number;
}

export interface BenchBinding {
  /** Parses `count` requests laid end to end in `buffer`, each with its body; throws
   * naming the first that is incomplete or refused (crates/tsgi-napi/src/parse_batch.rs). */
  parseBatch(protocol: 'uwsgi' | 'fastcgi' | 'http', buffer: Uint8Array, count: number): ParsedBatch;
}

export function buildBenchBinding(): void;

export function loadBenchBinding(): { binding: BenchBinding; file: string } | { binding: null; why: string };
