import fs from 'node:fs';
import path from 'node:path';
import type { ApiKeyStore } from './apiKeyStore';
import { isLiveKeyOf, issueApiKey } from './issueKey';

/** The demo account's key, in the embedded data dir, readable by its owner only (0600). */
export const DEMO_KEY_FILE = 'demo-api-key';

export interface DemoKey {
  /** Where the key is kept: `<DATA_DIR>/demo-api-key`. */
  file: string;
  /** The key, only when it was created just now (to be printed once); null when the file's key was reused. */
  createdKey: string | null;
}

/**
 * Embedded mode's quick start: the demo account's key. Reuses the key in `<dataDir>/demo-api-key`
 * while it is a live key of `accountId`; otherwise (first start, a revoked or foreign key) issues a
 * new one and writes it there with mode 0600.
 */
export async function ensureDemoApiKey(store: ApiKeyStore, dataDir: string, accountId: string, now: number): Promise<DemoKey> {
  const file = path.join(dataDir, DEMO_KEY_FILE);
  const existing = readKey(file);
  if (existing !== null && (await isLiveKeyOf(store, existing, accountId))) {
    fs.chmodSync(file, 0o600);
    return { file, createdKey: null };
  }
  const { key } = await issueApiKey(store, accountId, now);
  // A fresh file created 0600 and renamed over the old one: rewriting an existing file would keep
  // its old mode (0644, say) until a chmod, and the new key would be readable meanwhile.
  const fresh = `${file}.${process.pid}.tmp`;
  fs.rmSync(fresh, { force: true });
  fs.writeFileSync(fresh, `${key}\n`, { mode: 0o600, flag: 'wx' });
  fs.renameSync(fresh, file);
  return { file, createdKey: key };
}

function readKey(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw thrown;
  }
}
