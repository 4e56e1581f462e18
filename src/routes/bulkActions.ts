import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { actionView, statsOf } from '../actions/actionView';
import { createBulkAction } from '../actions/createBulkAction';
import { isPlainObject } from '../actions/validateRequest';
import { enumParam, pageParams, stringParam, type Query } from '../api/query';
import { ApiError } from '../errors';
import type { Platform } from '../platform';
import type { ActionStatus, BulkAction, OutcomeStatus } from '../types/entities';

const ACTION_STATUSES: readonly ActionStatus[] = ['PENDING', 'SCHEDULED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const OUTCOME_STATUSES: readonly OutcomeStatus[] = ['SUCCESS', 'FAILED', 'SKIPPED'];

/**
 * /api/bulk-actions. `POST /:entityType` serves every registered type (the seed's step-4 body),
 * so a new entity type needs no route code here.
 */
export const bulkActionRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  /** Both create routes answer the same way: 202, Location, and whether this was a replay. */
  const create = async (body: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const result = await createBulkAction(platform, body, header(request.headers['idempotency-key']) ?? null);
    return reply
      .code(result.status)
      .header('location', `/api/bulk-actions/${result.actionId}`)
      .header('idempotent-replayed', String(result.kind === 'replayed'))
      .type('application/json')
      .send(result.body);
  };

  app.post('/', async (request, reply) => create(request.body, request, reply));

  app.post<{ Params: { entityType: string } }>('/:entityType', async (request, reply) => {
    const body = request.body;
    if (!isPlainObject(body)) throw new ApiError('INVALID_BODY');
    if (Object.hasOwn(body, 'entityType')) {
      throw new ApiError('INVALID_FIELD', 'entityType comes from the URL on this route', { field: 'entityType' });
    }
    return create({ ...body, entityType: request.params.entityType }, request, reply);
  });

  app.get<{ Querystring: Query }>('/', async (request) => {
    const { page, limit, offset } = pageParams(request.query);
    const filter = {
      accountId: stringParam(request.query, 'accountId'),
      status: enumParam(request.query, 'status', ACTION_STATUSES),
      entityType: stringParam(request.query, 'entityType'),
    };
    const result = await platform.jobStore.listActions(filter, offset, limit);
    return { items: result.items.map(actionView), page, limit, total: result.total };
  });

  app.get<{ Params: { id: string } }>('/:id', async (request) => actionView(await mustGet(platform, request.params.id)));

  app.get<{ Params: { id: string } }>('/:id/stats', async (request) => {
    const found = await platform.jobStore.getActionWithErrors(request.params.id);
    if (!found) throw notFound(request.params.id);
    return statsOf(found.action, found.errorsByCode);
  });

  app.get<{ Params: { id: string }; Querystring: Query }>('/:id/logs', async (request) => {
    const action = await mustGet(platform, request.params.id);
    const status = enumParam(request.query, 'status', OUTCOME_STATUSES) ?? null;
    const { page, limit, offset } = pageParams(request.query, 100, 1000);
    const result = await platform.jobStore.listOutcomes(action.id, status, offset, limit);
    return {
      items: result.items.map((o) => ({
        entityId: o.entityId,
        status: o.status,
        code: o.code,
        message: o.message,
        processedAt: new Date(o.processedAt).toISOString(),
      })),
      page,
      limit,
      total: result.total,
    };
  });
};

async function mustGet(platform: Platform, id: string): Promise<BulkAction> {
  const action = await platform.jobStore.getAction(id);
  if (!action) throw notFound(id);
  return action;
}

function notFound(id: string): ApiError {
  return new ApiError('ACTION_NOT_FOUND', `No bulk action has id ${id}`, { actionId: id });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
