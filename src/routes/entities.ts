import type { FastifyPluginAsync } from 'fastify';
import { idParam, stringParam, type Query } from '../api/query';
import { actingAccount, callerOf } from '../auth/requestAuth';
import { ApiError } from '../errors';
import { handlerFor } from '../handlers/index';
import type { Platform } from '../platform';

/** Read one entity, scoped to its account, so users can see what a bulk action changed. */
export const entityRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  app.get<{ Params: { entityType: string; id: string }; Querystring: Query }>('/:entityType/:id', async (request) => {
    const { entityType, id } = request.params;
    // An account's key reads its own account (?accountId may repeat it); an admin's must name one.
    const accountId = actingAccount(callerOf(request), stringParam(request.query, 'accountId'));
    if (!accountId) throw new ApiError('MISSING_FIELD', 'accountId is required with an admin key', { field: 'accountId' });
    if (!handlerFor(platform.handlers, entityType)) {
      throw new ApiError('UNKNOWN_ENTITY_TYPE', undefined, { field: 'entityType', allowed: Object.keys(platform.handlers) });
    }
    // An ID no create could have stored is a client's mistake, not a missing entity.
    idParam(id, 'id', platform.config.inputLimits.maxEntityIdLength);
    const entity = await platform.entityStore.get(entityType, accountId, id);
    if (!entity) throw new ApiError('ENTITY_NOT_FOUND', `No ${entityType} ${id} in account ${accountId}`, { entityType, id });
    return {
      ...entity.data,
      id: entity.id,
      entityType,
      accountId: entity.accountId,
      createdAt: new Date(entity.createdAt).toISOString(),
      updatedAt: new Date(entity.updatedAt).toISOString(),
    };
  });
};
