import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';

/**
 * The real servers that distributed-mode suites run against. `.ci/run` starts them and sets
 * MONGODB_URL (a FerretDB), RABBITMQ_URL, RABBITMQ_MANAGEMENT_URL and REQUIRE_SERVICES=1.
 * Without the URLs those suites report themselves skipped, with the reason in the test name, so
 * `npm test` passes on a laptop; with REQUIRE_SERVICES=1 a missing server is a failure instead.
 */
export const services = {
  mongodbUrl: process.env.MONGODB_URL || undefined,
  rabbitmqUrl: process.env.RABBITMQ_URL || undefined,
  rabbitmqManagementUrl: process.env.RABBITMQ_MANAGEMENT_URL || undefined,
  required: process.env.REQUIRE_SERVICES === '1',
};

type Need = 'mongodb' | 'rabbitmq';

const VARIABLE: Record<Need, keyof typeof services> = { mongodb: 'mongodbUrl', rabbitmq: 'rabbitmqUrl' };
const ENV_NAME: Record<Need, string> = { mongodb: 'MONGODB_URL', rabbitmq: 'RABBITMQ_URL' };

/**
 * `describe(name, body)` when every needed server is configured. Otherwise one skipped test that
 * names the missing variables, or (REQUIRE_SERVICES=1) one failing test.
 */
export function describeWithServices(name: string, needs: Need[], body: () => void): void {
  const missing = needs.filter((need) => !services[VARIABLE[need]]).map((need) => ENV_NAME[need]);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `needs ${missing.join(' and ')} (run .ci/run, or start the servers and set them)`;
  describe(name, () => {
    if (services.required) {
      it(`REQUIRE_SERVICES=1: ${reason}`, () => {
        throw new Error(`REQUIRE_SERVICES=1 but ${missing.join(' and ')} not set`);
      });
    } else {
      it.skip(`skipped: ${reason}`, () => {});
    }
  });
}

/** A name no other test (or test run) uses: per-test databases and queues. Lower-case, [a-z0-9_]. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * The settings of a distributed-mode platform in its own database and queue, on the test servers
 * or on `servers` (a private node, a proxy). MONGODB_MAX_WRITE_OPS 40: FerretDB hangs on write
 * commands of 50 statements or more (services/ferretdb/README.md).
 */
export function distributedEnv(
  database: string,
  queue: string,
  servers: { mongodbUrl?: string; rabbitmqUrl?: string } = services,
): Record<string, string> {
  return { MONGODB_URL: servers.mongodbUrl!, RABBITMQ_URL: servers.rabbitmqUrl!, MONGODB_DATABASE: database, RABBITMQ_QUEUE: queue, MONGODB_MAX_WRITE_OPS: '40' };
}
