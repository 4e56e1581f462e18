import { parseArgs } from 'node:util';
import type { ApiKeyStore } from './apiKeyStore';
import { issueApiKey } from './issueKey';

export const KEYS_USAGE = [
  'usage: npm run keys -- create --account <accountId>   (prints the key once; --account "*" makes an admin key)',
  '       npm run keys -- list                           (id, account, created, revoked; never a key)',
  '       npm run keys -- revoke <id>                    (stops working within 5 s in running servers)',
].join('\n');

/**
 * `npm run keys` (scripts/keys.ts): create, list and revoke stored API keys. Writes what it has
 * to say through `print`; returns the exit code (0, or 2 for a usage error, 1 for an unknown id).
 */
export async function runKeysCommand(args: string[], store: ApiKeyStore, print: (line: string) => void, now: () => number = Date.now): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { account: { type: 'string' } }, allowPositionals: true, strict: false });
  const [command, ...rest] = positionals;
  if (command === 'create' && typeof values.account === 'string' && rest.length === 0) {
    const { id, key } = await issueApiKey(store, values.account, now());
    print(`created key ${id} for account ${values.account}. It is shown only now; keep it:`);
    print(key);
    return 0;
  }
  if (command === 'list' && rest.length === 0) {
    print(['id', 'account', 'created', 'revoked'].join('\t'));
    for (const k of await store.listKeys()) {
      print([k.id, k.accountId, new Date(k.createdAt).toISOString(), k.revokedAt === null ? '-' : new Date(k.revokedAt).toISOString()].join('\t'));
    }
    return 0;
  }
  if (command === 'revoke' && rest.length === 1) {
    if (!(await store.revokeKey(rest[0]!, now()))) {
      print(`no key has id ${rest[0]}`);
      return 1;
    }
    print(`revoked key ${rest[0]}`);
    return 0;
  }
  print(KEYS_USAGE);
  return 2;
}
