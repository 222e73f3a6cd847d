/** Where a benchmark ran, for the results files: CPUs, kernel, Node. */
import os from 'node:os';

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model?.trim() ?? '?',
    os: `${os.platform()} ${os.release()}`,
    node: process.version,
  };
}

/** @typedef {ReturnType<typeof machineInfo>} Machine */

/**
 * "2 CPUs (AMD EPYC …), linux 6.1.0, Node v20.20.2".
 * @param {Machine} m
 */
export const machineLine = (m) => `${m.cpus} CPUs (${m.model}), ${m.os}, Node ${m.node}`;

/** The load averages over 1, 5 and 15 minutes, "11.30 12.48 8.70": results on a shared
 * machine say what else ran. */
export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
