import foundation from './0001_foundation.js';
import audit from './0002_audit.js';
import mfa from './0003_mfa.js';
import apiKeys from './0004_api_keys.js';
import whatsapp from './0005_whatsapp.js';
import keyIds from './0006_key_ids.js';

/** Applied in order, each once; never edit one that has shipped, add the next. */
export const migrations: readonly { id: string; sql: string }[] = [
  { id: '0001_foundation', sql: foundation },
  { id: '0002_audit', sql: audit },
  { id: '0003_mfa', sql: mfa },
  { id: '0004_api_keys', sql: apiKeys },
  { id: '0005_whatsapp', sql: whatsapp },
  { id: '0006_key_ids', sql: keyIds },
];
