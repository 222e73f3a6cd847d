/**
 * Writing metric families in the Prometheus text format (0.0.4) or OpenMetrics 1.0, the
 * one the scraper asks for (`Accept: application/openmetrics-text`). The two differ in
 * what a counter's family is called (`x_total` against `x`, its sample `x_total` in
 * both), in the info type (a gauge `x_info` against an info family `x`), in the
 * `_created` sample OpenMetrics gives a counter or histogram that knows when it started
 * counting (the text format has none), and in the `# EOF` that ends OpenMetrics.
 */
import type { HistogramSeries } from './metrics.js';

export type Labels = ReadonlyArray<readonly [string, string | number]>;
/** Labels, value, and (counters) when the count began, seconds since the epoch. */
export type Sample = readonly [Labels, number, created?: number];

export const TEXT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Whether an Accept header asks for OpenMetrics (what Prometheus sends first when it can). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

/** A label value, escaped as both formats ask. */
function escape(value: string | number): string {
  return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  return labels.length === 0 ? '' : `{${labels.map(([name, value]) => `${name}="${escape(value)}"`).join(',')}}`;
}

/** A number as both formats write it. */
function valueText(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

export class Exposition {
  private readonly out: string[] = [];

  constructor(readonly openMetrics: boolean) {}

  private head(family: string, type: string, help: string): void {
    this.out.push(`# HELP ${family} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${family} ${type}`);
  }

  private sample(name: string, labels: Labels, value: number): void {
    this.out.push(`${name}${labelText(labels)} ${valueText(value)}`);
  }

  /** `name` without `_total`; its samples are `name_total`. */
  counter(name: string, help: string, samples: readonly Sample[]): void {
    this.head(this.openMetrics ? name : `${name}_total`, 'counter', help);
    for (const [labels, value, created] of samples) {
      this.sample(`${name}_total`, labels, value);
      if (this.openMetrics && created) this.sample(`${name}_created`, labels, created);
    }
  }

  gauge(name: string, help: string, samples: readonly Sample[]): void {
    this.head(name, 'gauge', help);
    for (const [labels, value] of samples) this.sample(name, labels, value);
  }

  /** `bounds`: the buckets' upper bounds, +Inf left out (each series has one more count). */
  /** `created`: when the series began counting (OpenMetrics' `_created`). */
  histogram(name: string, help: string, bounds: readonly number[], series: ReadonlyArray<HistogramSeries & { extra?: Labels; created?: number }>): void {
    this.head(name, 'histogram', help);
    for (const one of series) {
      const labels: Labels = [...(one.extra ?? []), ...one.labels];
      let cumulative = 0;
      for (const [i, count] of one.counts.entries()) {
        cumulative += count;
        this.sample(`${name}_bucket`, [...labels, ['le', valueText(i < bounds.length ? bounds[i]! : Infinity)]], cumulative);
      }
      this.sample(`${name}_count`, labels, cumulative);
      this.sample(`${name}_sum`, labels, one.sum);
      if (this.openMetrics && one.created) this.sample(`${name}_created`, labels, one.created);
    }
  }

  /** A constant 1 whose labels are the information: `name` without `_info`. */
  info(name: string, help: string, labels: Labels): void {
    this.head(this.openMetrics ? name : `${name}_info`, this.openMetrics ? 'info' : 'gauge', help);
    this.sample(`${name}_info`, labels, 1);
  }

  text(): string {
    return this.out.join('\n') + (this.openMetrics ? '\n# EOF\n' : '\n');
  }
}
