import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify';
import { actionView, statsOf } from '../actions/actionView';
import { inProcessCreates, type CreateRunner } from '../actions/createRequest';
import { LargeBodyGate } from '../actions/largeBodyGate';
import { stringProblem } from '../actions/exactValues';
import { enumParam, pageParams, stringParam, type Query } from '../api/query';
import { actingAccount, callerOf, maySee } from '../auth/requestAuth';
import { isAdmin, type Caller } from '../auth/authenticator';
import { ApiError } from '../errors';
import { handlerFor } from '../handlers/index';
import { outcomeMessage } from '../outcomeMessages';
import type { Platform } from '../platform';
import type { ActionStatus, BulkAction, OutcomeStatus } from '../types/entities';

const ACTION_STATUSES: readonly ActionStatus[] = ['PENDING', 'SCHEDULED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const OUTCOME_STATUSES: readonly OutcomeStatus[] = ['SUCCESS', 'FAILED', 'SKIPPED'];

export interface BulkActionRoutesOptions {
  platform: Platform;
  /** Where creates run: the create thread in a server (src/actions/createThread/); default: this thread. */
  creates?: CreateRunner;
}

/**
 * /api/bulk-actions. `POST /:entityType` serves every registered type (the spec's step-4 body),
 * so a new entity type needs no route code here.
 *
 * A create body stays bytes on this thread: parsing, validating, hashing, planning and storing it
 * is the CreateRunner's work (in a server, the create thread's), so a million IDs never hold up
 * the event loop that answers every other request. Large bodies are admitted a few at a time
 * (LargeBodyGate), before they are read when their Content-Length says they are large.
 */
export const bulkActionRoutes: FastifyPluginAsync<BulkActionRoutesOptions> = async (app, { platform, creates }) => {
  // A query naming another account is 403 on every route, as a body naming one is (README: Authentication).
  app.addHook('onRequest', async (request) => {
    actingAccount(callerOf(request), stringParam(request.query as Query, 'accountId'));
  });
  const runner = creates ?? inProcessCreates(platform);
  const gate = new LargeBodyGate(platform.config.largeBodies);
  /** The gate slot of a large request that no create handler has taken over yet. */
  const slots = new WeakMap<FastifyRequest, () => void>();
  /** Takes a slot for `request` (or throws SERVER_BUSY); the create handler takes it over, else the response's end frees it. */
  const admit = (request: FastifyRequest) => slots.set(request, gate.enter());

  const admitByLength: preParsingHookHandler = async (request, reply, payload) => {
    const length = Number(request.headers['content-length']);
    // Over BODY_LIMIT_BYTES the answer is 413, which needs no slot.
    if (gate.isLarge(length) && length <= platform.config.bodyLimitBytes) {
      admit(request);
      // A client that goes away while sending the body never reaches the handler, nor onResponse.
      reply.raw.once('close', () => slots.get(request)?.());
    }
    return payload;
  };

  // In this plugin only: JSON bodies are handed over as bytes, parsed where the create runs.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    try {
      // A body sent without Content-Length is known to be large only now that it is here.
      if (gate.isLarge(body.length) && !slots.has(request)) admit(request);
      done(null, body);
    } catch (thrown) {
      done(thrown as Error, undefined);
    }
  });
  app.addHook('onResponse', async (request) => slots.get(request)?.());

  /** Both create routes answer the same way: 202, Location, and whether this was a replay. */
  const create = async (request: FastifyRequest, reply: FastifyReply, routeEntityType: string | null) => {
    const release = slots.get(request);
    slots.delete(request);
    try {
      const result = await runner.create({
        body: Buffer.isBuffer(request.body) ? request.body : null,
        routeEntityType,
        idempotencyKey: header(request.headers['idempotency-key']) ?? null,
        callerAccount: isAdmin(callerOf(request)) ? null : callerOf(request).accountId,
        receivedAt: platform.now(),
      });
      return reply
        .code(result.status)
        .header('location', `/api/bulk-actions/${result.actionId}`)
        .header('idempotent-replayed', String(result.kind === 'replayed'))
        .type('application/json')
        .send(result.body);
    } finally {
      release?.();
    }
  };

  app.post('/', { preParsing: admitByLength }, async (request, reply) => create(request, reply, null));
  app.post<{ Params: { entityType: string } }>('/:entityType', { preParsing: admitByLength }, async (request, reply) =>
    create(request, reply, request.params.entityType),
  );

  app.get<{ Querystring: Query }>('/', async (request) => {
    const { page, limit, offset } = pageParams(request.query);
    const filter = {
      // An account's key lists its own actions only; an admin's lists any, or those of ?accountId.
      accountId: actingAccount(callerOf(request), stringParam(request.query, 'accountId')),
      status: enumParam(request.query, 'status', ACTION_STATUSES),
      entityType: stringParam(request.query, 'entityType'),
    };
    const result = await platform.jobStore.listActions(filter, offset, limit);
    return { items: result.items.map(actionView), page, limit, total: result.total };
  });

  app.get<{ Params: { id: string } }>('/:id', async (request) => actionView(await mustGet(platform, callerOf(request), request.params.id)));

  app.get<{ Params: { id: string } }>('/:id/stats', async (request) => {
    const found = storable(request.params.id) ? await platform.jobStore.getActionWithErrors(request.params.id) : null;
    if (!found || !maySee(callerOf(request), found.action.accountId)) throw notFound(request.params.id);
    return statsOf(found.action, found.errorsByCode);
  });

  app.get<{ Params: { id: string }; Querystring: Query }>('/:id/logs', async (request) => {
    const action = await mustGet(platform, callerOf(request), request.params.id);
    const status = enumParam(request.query, 'status', OUTCOME_STATUSES) ?? null;
    const { page, limit, offset } = pageParams(request.query, 100, 1000);
    const result = await platform.jobStore.listOutcomes(action.id, status, offset, limit);
    const context = { entityType: action.entityType, accountId: action.accountId, dedupeKey: handlerFor(platform.handlers, action.entityType)?.dedupeKey };
    return {
      items: result.items.map((o) => ({
        entityId: o.entityId,
        status: o.status,
        code: o.code,
        // Rendered here from the code's template and the row's params: outcomes store no sentences.
        message: outcomeMessage(o.code, o.params, { ...context, entityId: o.entityId }),
        processedAt: new Date(o.processedAt).toISOString(),
      })),
      page,
      limit,
      total: result.total,
    };
  });
};

/** The action, if the caller may see it. Another account's action answers exactly as a missing one: 404, same body. */
async function mustGet(platform: Platform, caller: Caller, id: string): Promise<BulkAction> {
  const action = storable(id) ? await platform.jobStore.getAction(id) : null;
  if (!action || !maySee(caller, action.accountId)) throw notFound(id);
  return action;
}

/**
 * Whether a store can be asked about `id` at all: an id with U+0000 or a lone surrogate cannot
 * exist (ids are UUIDs), and FerretDB on PostgreSQL fails the whole query on U+0000 (a 500). Such
 * an id answers 404, as any other id that names no action.
 */
function storable(id: string): boolean {
  return stringProblem(id) === null;
}

function notFound(id: string): ApiError {
  return new ApiError('ACTION_NOT_FOUND', `No bulk action has id ${id}`, { actionId: id });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
