import foundation from './0001_foundation.js';

/** Applied in order, each once; never edit one that has shipped, add the next. */
export const migrations: readonly { id: string; sql: string }[] = [
  { id: '0001_foundation', sql: foundation },
];
