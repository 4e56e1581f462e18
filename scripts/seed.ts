/**
 * Seeds fake entities into an account, optionally writing their IDs to a file:
 *
 *   npm run seed -- --account acme --type contact --count 1000000 --out ids.txt
 *
 * Into the embedded data dir (DATA_DIR), or into MongoDB when MONGODB_URL and RABBITMQ_URL are set.
 * Safe while the server runs: embedded, it shares the SQLite file (WAL, busy_timeout), which is
 * why it opens only the entity store instead of calling buildPlatform (that releases every queue
 * lease on the assumption that no other process uses the data dir).
 */
import fs from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../src/config';
import { assertValidRegistry, handlerFor, handlers } from '../src/handlers/index';
import { createLogger } from '../src/observability/logger';
import { openEntityStore } from '../src/platform';
import { lowerThreadPriority } from '../src/processing/threadPriority';
import { seedEntities } from '../src/seeding/generateEntities';

const MAX_COUNT = 10_000_000;
/**
 * Entities per transaction. A running server's writes (a create, a batch's outcomes) wait for the
 * one under way, so they are kept short: on the 2-core machine, 1M contacts beside 1M others took
 * 19.7-35.0 s in chunks of 100,000 (transactions up to 2.8-3.9 s), 24.7 s in chunks of 25,000
 * (up to 1.1 s, most of it a WAL checkpoint) and 34-62 s in chunks of 10,000 (no shorter).
 */
const CHUNK_SIZE = 25_000;

const USAGE = `usage: npm run seed -- --account <id> --type <entityType> --count <n>
                        [--duplicate-email-rate <0..1>] [--out <file>] [--prefix <idPrefix>]

  --account               account to seed into (required)
  --type                  one of: ${Object.keys(handlers).join(', ')}
  --count                 number of entities, 1 to ${MAX_COUNT.toLocaleString('en-US')}
  --duplicate-email-rate  fraction of contacts/leads reusing an earlier entity's email (default 0)
  --out                   write the IDs there, one per line
  --prefix                ID prefix (default <type>-<account>-, so accounts never share IDs)

The data dir is DATA_DIR (default ./data), as for the server; with MONGODB_URL and RABBITMQ_URL
set, entities go to MongoDB (MONGODB_DATABASE) instead.`;

interface SeedArgs {
  accountId: string;
  entityType: string;
  count: number;
  duplicateEmailRate: number;
  out: string | undefined;
  idPrefix: string;
}

class UsageError extends Error {}

function parseSeedArgs(argv: string[]): SeedArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        account: { type: 'string' },
        type: { type: 'string' },
        count: { type: 'string' },
        'duplicate-email-rate': { type: 'string', default: '0' },
        out: { type: 'string' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (thrown) {
    throw new UsageError(thrown instanceof Error ? thrown.message : String(thrown));
  }
  if (values.help) return 'help';

  const accountId = values.account?.trim() ?? '';
  if (accountId === '') throw new UsageError('--account is required');
  const entityType = values.type ?? '';
  if (!handlerFor(handlers, entityType)) {
    throw new UsageError(`--type must be one of ${Object.keys(handlers).join(', ')}; got "${entityType}"`);
  }
  const count = Number(values.count);
  if (!/^\d+$/.test(values.count ?? '') || count < 1 || count > MAX_COUNT) {
    throw new UsageError(`--count must be an integer from 1 to ${MAX_COUNT}; got "${values.count ?? ''}"`);
  }
  const rateText = values['duplicate-email-rate'];
  const duplicateEmailRate = Number(rateText);
  if (rateText.trim() === '' || !(duplicateEmailRate >= 0 && duplicateEmailRate <= 1)) {
    throw new UsageError(`--duplicate-email-rate must be a number from 0 to 1; got "${rateText}"`);
  }
  if (values.out === '') throw new UsageError('--out needs a file name');
  return { accountId, entityType, count, duplicateEmailRate, out: values.out, idPrefix: values.prefix ?? `${entityType}-${accountId}-` };
}

/** IDs one per line, one write per chunk; waits for 'drain' when the stream's buffer is full. */
async function openIdFile(file: string) {
  const stream = fs.createWriteStream(file);
  await once(stream, 'open'); // a bad path fails here, before anything is seeded
  // Kept rather than thrown from an event handler: the next write reports it and seeding stops.
  let failure: Error | undefined;
  stream.on('error', (error) => (failure = error));
  return {
    write: async (ids: string[]) => {
      if (failure) throw failure;
      if (!stream.write(ids.join('\n') + '\n')) await once(stream, 'drain');
    },
    close: async () => {
      stream.end();
      await finished(stream);
    },
  };
}

async function main(): Promise<number> {
  let args: SeedArgs | 'help';
  let config: Config;
  try {
    args = parseSeedArgs(process.argv.slice(2));
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`seed: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      console.error(`seed: configuration error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (args === 'help') {
    console.log(USAGE);
    return 0;
  }

  const { accountId, entityType, count, out } = args;
  // As the server does at start: a handler's malformed declaration must not reach the data.
  assertValidRegistry(handlers);
  // Background work, like the server's batch workers: a server running beside it answers first.
  lowerThreadPriority(config.backgroundThreadNice, createLogger(config.logLevel));
  const { entityStore: store, close } = await openEntityStore(config);
  try {
    const idFile = out === undefined ? undefined : await openIdFile(out);
    const showProgress = process.stderr.isTTY;
    const started = performance.now();
    await seedEntities(store, entityType, accountId, count, {
      idPrefix: args.idPrefix,
      duplicateEmailRate: args.duplicateEmailRate,
      chunkSize: CHUNK_SIZE,
      idSink: idFile?.write ?? (() => undefined),
      onProgress: (done) => {
        if (showProgress) process.stderr.write(`\r${done.toLocaleString('en-US')} / ${count.toLocaleString('en-US')}`);
      },
    });
    await idFile?.close();
    const seconds = (performance.now() - started) / 1000;
    if (showProgress) process.stderr.write('\n');
    const rate = Math.round(count / seconds).toLocaleString('en-US');
    const where = out === undefined ? '' : `; ids in ${out}`;
    console.log(`seeded ${count} ${entityType} entities into account ${accountId} in ${seconds.toFixed(1)} s (${rate}/s)${where}`);
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A file-system or SQLite error (a bad --out path, a full disk) needs its message, not a stack.
    const isSystemError = error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
    console.error(isSystemError ? `seed: ${error.message}` : error);
    process.exitCode = 1;
  },
);
