/**
 * `npm run keys -- create --account acme | list | revoke <id>`: the API keys of the configured
 * store (DATA_DIR's SQLite file in embedded mode; MONGODB_URL's database in distributed mode).
 * Works beside a running server. See src/auth/keysCommand.ts.
 */
import { ConfigError, loadConfig } from '../src/config';
import { runKeysCommand } from '../src/auth/keysCommand';
import { toError } from '../src/errors';
import { openApiKeyStore } from '../src/platform';

async function main(): Promise<number> {
  const config = loadConfig(process.env);
  const { apiKeyStore, close } = await openApiKeyStore(config);
  try {
    return await runKeysCommand(process.argv.slice(2), apiKeyStore, (line) => console.log(line));
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(code),
  (thrown: unknown) => {
    const error = toError(thrown);
    console.error(error instanceof ConfigError ? `Configuration error: ${error.message}` : `keys: ${error.message}`);
    process.exit(1);
  },
);
