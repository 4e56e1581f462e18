import path from 'node:path';
import { ensureDemoApiKey, type DemoKey } from '../auth/demoKey';
import type { Config } from '../config';
import { handlerFor, type HandlerRegistry } from '../handlers/index';
import type { Platform } from '../platform';
import { seedEntities } from './generateEntities';

export const DEMO_ACCOUNT = 'demo';
/** A second account whose contacts the demo account must never see or touch. */
const OTHER_ACCOUNT = 'other';

interface DemoSet {
  entityType: string;
  accountId: string;
  count: number;
  idPrefix: string;
  duplicateEmailRate?: number;
}

/** The prefixes give IDs like contact-0000001, which printNextSteps' commands rely on. */
const DEMO_SETS: readonly DemoSet[] = [
  // A few shared emails, so a bulk action over the demo contacts and leads shows de-duplication.
  { entityType: 'contact', accountId: DEMO_ACCOUNT, count: 5_000, idPrefix: 'contact-', duplicateEmailRate: 0.02 },
  { entityType: 'lead', accountId: DEMO_ACCOUNT, count: 5_000, idPrefix: 'lead-', duplicateEmailRate: 0.02 },
  { entityType: 'account', accountId: DEMO_ACCOUNT, count: 2_000, idPrefix: 'account-' },
  { entityType: 'product', accountId: DEMO_ACCOUNT, count: 2_000, idPrefix: 'product-' },
  { entityType: 'contact', accountId: OTHER_ACCOUNT, count: 100, idPrefix: 'other-contact-' },
];

/** Demo entities of a registered type that DEMO_SETS does not list (one added later); IDs are `<type>-0000001` on. */
export const DEMO_COUNT_OTHER_TYPES = 2_000;

/** The sets the demo seeds for `registry`: DEMO_SETS' types it registers, then every other registered type. */
function demoSetsFor(registry: HandlerRegistry): DemoSet[] {
  const sets = DEMO_SETS.filter((set) => handlerFor(registry, set.entityType));
  for (const entityType of Object.keys(registry)) {
    if (!sets.some((set) => set.entityType === entityType && set.accountId === DEMO_ACCOUNT)) {
      sets.push({ entityType, accountId: DEMO_ACCOUNT, count: DEMO_COUNT_OTHER_TYPES, idPrefix: `${entityType}-` });
    }
  }
  return sets;
}

/** How many entities of each registered type the demo seeds into the demo account. */
export function demoCounts(registry: HandlerRegistry): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entityType of Object.keys(registry)) counts[entityType] = 0;
  for (const set of demoSetsFor(registry)) {
    if (set.accountId === DEMO_ACCOUNT) counts[set.entityType] = (counts[set.entityType] ?? 0) + set.count;
  }
  return counts;
}

export interface DemoInfo {
  accountId: string;
  /** Entities of each registered type in the demo account. */
  counts: Record<string, number>;
  /** False when the account already had data and was left alone. */
  seededNow: boolean;
  /** Embedded mode: the demo account's API key file (and the key, when created just now); null in distributed mode. */
  apiKey: DemoKey | null;
}

/** Contacts the banner and the README seed into account acme for a big action. */
export const BIG_SEED_COUNT = 200_000;

/**
 * Gives a fresh data dir something to act on. Seeds only when the demo account has no entity of
 * any type: an account someone has already used (or emptied on purpose) is never overwritten.
 */
export async function seedDemoAccount(platform: Platform): Promise<DemoInfo> {
  const { logger, entityStore, config } = platform;
  // Embedded only: the key file lives in the data dir, beside the database it is valid for.
  const apiKey = config.distributed ? null : await ensureDemoApiKey(platform.apiKeyStore, config.dataDir, DEMO_ACCOUNT, platform.now());
  const existing = await countsOf(platform, DEMO_ACCOUNT);
  if (Object.values(existing).some((n) => n > 0)) {
    logger.info({ accountId: DEMO_ACCOUNT, counts: existing }, 'demo account already has data; not seeding it');
    return { accountId: DEMO_ACCOUNT, counts: existing, seededNow: false, apiKey };
  }

  const started = Date.now();
  // A platform built with its own registry may lack built-in types or add its own: seed what it registers.
  for (const set of demoSetsFor(platform.handlers)) {
    await seedEntities(entityStore, set.entityType, set.accountId, set.count, {
      idPrefix: set.idPrefix,
      duplicateEmailRate: set.duplicateEmailRate ?? 0,
      schema: handlerFor(platform.handlers, set.entityType)?.fields,
    });
  }
  const counts = await countsOf(platform, DEMO_ACCOUNT);
  logger.info({ accountId: DEMO_ACCOUNT, counts, otherAccount: OTHER_ACCOUNT, ms: Date.now() - started }, 'seeded demo data');
  return { accountId: DEMO_ACCOUNT, counts, seededNow: true, apiKey };
}

async function countsOf(platform: Platform, accountId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const entityType of Object.keys(platform.handlers)) {
    counts[entityType] = await platform.entityStore.count(entityType, accountId);
  }
  return counts;
}

/**
 * What to try first, printed once the server listens. User-facing, so plain console output rather
 * than a log line. Every command works by copy-paste from the directory the server was started in:
 * the key is read from its file, and `npm run seed` gets the same DATA_DIR as the server.
 */
export function printNextSteps(config: Config, demo: DemoInfo | null): void {
  const base = `http://localhost:${config.port}`;
  const dataDirEnv = usesDefaultDataDir(config) ? '' : `DATA_DIR=${shellPath(config.dataDir)} `;
  const lines = ['', `Bulk Action Platform listening on ${base}`];
  if (demo) {
    const counts = Object.entries(demo.counts).map(([type, n]) => `${type} ${n.toLocaleString('en-US')}`).join(' · ');
    lines.push(`Demo account "${demo.accountId}"${demo.seededNow ? ' (seeded just now)' : ''}: ${counts}`);
    lines.push(`Account "${OTHER_ACCOUNT}" holds other-contact-* IDs: the demo account can neither see nor change them.`);
  } else {
    lines.push(`No demo data (DEMO_DATA=false). For the commands below, first run:`);
    lines.push(`  ${dataDirEnv}npm run seed -- --account ${DEMO_ACCOUNT} --type contact --count 5000 --prefix contact-`);
  }
  let auth = `-H "Authorization: Bearer $KEY"`;
  if (demo?.apiKey) {
    const file = shellPath(demo.apiKey.file);
    if (demo.apiKey.createdKey) lines.push('', `API key of account "${DEMO_ACCOUNT}" (shown this once; kept in ${file}, mode 0600):`, `  ${demo.apiKey.createdKey}`);
    else lines.push('', `API key of account "${DEMO_ACCOUNT}": in ${file}`);
    auth = `-H "Authorization: Bearer $(cat ${file})"`;
  } else {
    lines.push('', `Every /api request needs an API key: KEY=$(${dataDirEnv}npm run -s keys -- create --account ${DEMO_ACCOUNT} | tail -1)`);
  }
  const body = JSON.stringify({
    entityIds: ['contact-0000001', 'contact-0000002', 'contact-0000003'],
    fieldsToUpdate: { status: 'customer' },
  });
  lines.push(
    '',
    'Try it:',
    '  # 1. Mark three demo contacts as customers (the same request again within 10 minutes is 409 DUPLICATE_ACTION)',
    `  curl -s -X POST ${base}/api/bulk-actions/contact ${auth} -H 'content-type: application/json' \\`,
    `    -d '${body}'`,
    '',
    '  # 2. Follow it: replace <id> with the "id" from the answer above',
    `  curl -s ${auth} ${base}/api/bulk-actions/<id>`,
    `  curl -s ${auth} ${base}/api/bulk-actions/<id>/stats`,
    `  curl -s ${auth} ${base}/api/bulk-actions/<id>/logs`,
    '',
    '  # 3. See the updated contact',
    `  curl -s ${auth} ${base}/api/entities/contact/contact-0000001`,
    '',
    `  # 4. Seed a bigger account (works while the server runs); its IDs go to /tmp/ids.txt`,
    `  ${dataDirEnv}npm run seed -- --account acme --type contact --count ${BIG_SEED_COUNT} --out /tmp/ids.txt`,
    '',
  );
  console.log(lines.join('\n'));
}

function usesDefaultDataDir(config: Config): boolean {
  return config.dataDir === path.resolve('./data');
}

/** A path as short as it can be from the current directory, quoted for a POSIX shell when it needs it. */
function shellPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  const shown = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
  return /^[\w./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
}
