/** The values of `--adapter` (a leaf module: the option table imports it, not the adapters). */
export const ADAPTERS = ['auto', 'tsgi', 'fetch', 'node'] as const;
export type AdapterName = (typeof ADAPTERS)[number];
