import { AsyncLocalStorage } from 'node:async_hooks';
import { PermanentError, toError } from '../errors';
import type { EntitySnapshot } from '../store/entityStore';
import type { FieldUpdates } from '../types/entities';
import type { CrmClient } from './crmClient';
import type { EntitySchema } from './fieldSchema';

/** What a handler reports for one entity it was given. Anything it throws instead is transient. */
export interface EntityResult {
  entityId: string;
  status: 'SUCCESS' | 'FAILED';
  code: string | null;
  message: string | null;
}

/**
 * What a request-level rule reports: the 400 UPDATE_RULE_VIOLATED names `fieldsToUpdate.<field>`
 * in `details.field`, `rule` in `details.rule` (a stable name a client can branch on, e.g.
 * 'closeDateRequiredWhenWon') and `message` as the error's message.
 */
export interface RequestRuleViolation {
  /** The field of fieldsToUpdate at fault, as the client named it ('closeDate'), present or not. */
  field: string;
  rule: string;
  message: string;
}

/**
 * The CRM client of the batch being processed. Handlers are shared singletons and batches run
 * concurrently, so the client travels with the async context rather than living on `this`.
 */
const batchContext = new AsyncLocalStorage<CrmClient>();

export function runWithCrmClient<T>(client: CrmClient, fn: () => Promise<T>): Promise<T> {
  return batchContext.run(client, fn);
}

/**
 * Base class of every entity handler (see docs/adding-an-entity-type.md).
 *
 * A subclass written as the spec's extension guide shows implements only `validateEntity` and `updateEntity`;
 * the default `processBatch` calls them per entity. Built-in handlers override `processBatch`
 * to do a few round trips per batch instead. Existence, account scoping and de-duplication are
 * checked by the core before a handler sees an entity.
 */
export abstract class BaseEntityHandler {
  /** Updatable fields. Without a declaration, any safe field name with a JSON scalar or string[] value is accepted. */
  readonly fields?: EntitySchema;
  /** The field whose equal values mark duplicate entities within one action (e.g. 'email'). */
  readonly dedupeKey?: string;

  constructor(readonly entityType: string) {}

  /**
   * Whether `processBatch` reads the entities' current `data` for these updates. When it does not,
   * the core loads only ids and keys, which is most of the cost of reading a batch. The safe default is yes.
   */
  needsCurrentData(_updates: FieldUpdates): boolean {
    return true;
  }

  /**
   * The request-level rule: a check on the whole `fieldsToUpdate` of a create request ("closeDate
   * is required when stage is won"), where per-entity rules (`validateEntity`, a batch check) see
   * one entity at a time after the action was accepted. It runs once per request, after every field
   * passed its declaration in `fields`, before the action is stored or counted against the rate
   * limit; a violation answers 400 UPDATE_RULE_VIOLATED and nothing is stored. Pure and synchronous:
   * it sees only the request (a frozen copy), never the store. The default accepts everything.
   * Whatever it throws is a server error (500), not the client's.
   */
  validateFieldsToUpdate(_fieldsToUpdate: Readonly<FieldUpdates>): RequestRuleViolation | null {
    return null;
  }

  /** The account- and type-scoped CRM client of the current batch. */
  protected get crmClient(): CrmClient {
    const client = batchContext.getStore();
    if (!client) throw new Error(`${this.entityType} handler used outside a batch: no crmClient in context`);
    return client;
  }

  /** False fails the entity with VALIDATION_FAILED. */
  abstract validateEntity(entityId: string): Promise<boolean>;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the spec's published signature
  abstract updateEntity(entityId: string, updates: Record<string, any>): Promise<void>;

  /**
   * Processes the entities of one batch that exist, belong to the account and are not duplicates.
   * Must return one result per entity, except that an entity a write through `crmClient` found
   * superseded (a newer action wrote it) needs none: the core records it SKIPPED SUPERSEDED, over
   * whatever the handler said. Throwing retries the whole batch (only unrecorded entities are redone).
   */
  async processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    const results: EntityResult[] = [];
    for (const entity of entities) {
      try {
        if (!(await this.validateEntity(entity.id))) {
          results.push(failed(entity.id, 'VALIDATION_FAILED'));
          continue;
        }
        await this.updateEntity(entity.id, updates);
        results.push(succeeded(entity.id));
      } catch (thrown) {
        const error = toError(thrown);
        if (error instanceof PermanentError) results.push(failed(entity.id, error.code, error.message));
        // The entities before this one are done: hand their results over with the transient error,
        // so a retry (or running out of retries) only concerns the rest.
        else throw new PartialBatchError(error, results);
      }
    }
    return results;
  }

  /**
   * The batch path of the built-in handlers: `check` runs in memory on each entity (null = fine),
   * then everything that passed is updated in one round trip.
   */
  protected async updateAllThatPass(
    entities: EntitySnapshot[],
    updates: FieldUpdates,
    check: (entity: EntitySnapshot, updates: FieldUpdates) => string | null,
  ): Promise<EntityResult[]> {
    const results: EntityResult[] = [];
    const passing: string[] = [];
    for (const entity of entities) {
      const problem = check(entity, updates);
      if (problem === null) passing.push(entity.id);
      else results.push(failed(entity.id, 'VALIDATION_FAILED', problem));
    }
    // Only what was written succeeded: an entity can leave the account between the read and the
    // write, and a newer action can write it meanwhile (superseded: the core records those).
    const { written, missing } = await this.crmClient.updateMany(passing, updates);
    for (const id of written) results.push(succeeded(id));
    for (const id of missing) results.push(failed(id, 'NOT_FOUND'));
    return results;
  }

  /** The per-entity path of the built-in handlers, with the same `check` as their batch path. */
  protected async updateOneThatPasses(
    entityId: string,
    updates: FieldUpdates,
    check: (entity: EntitySnapshot, updates: FieldUpdates) => string | null,
  ): Promise<void> {
    const [entity] = await this.crmClient.getMany([entityId]);
    if (!entity) throw new PermanentError(`${this.entityType} ${entityId} not found`, 'NOT_FOUND');
    const problem = check(entity, updates);
    if (problem !== null) throw new PermanentError(problem, 'VALIDATION_FAILED');
    if (!(await this.crmClient.update(entityId, updates))) throw new PermanentError(`${this.entityType} ${entityId} is no longer in this account`, 'NOT_FOUND');
  }
}

/** A transient failure part-way through a batch, with the results of the entities finished before it. */
export class PartialBatchError extends Error {
  constructor(
    override readonly cause: Error,
    readonly finished: EntityResult[],
  ) {
    super(cause.message);
    this.name = 'PartialBatchError';
  }
}

export function succeeded(entityId: string): EntityResult {
  return { entityId, status: 'SUCCESS', code: null, message: null };
}

/** A failure; without `message`, the code's catalogue message (src/outcomeMessages.ts) is shown, and nothing is stored per entity. */
export function failed(entityId: string, code: string, message: string | null = null): EntityResult {
  return { entityId, status: 'FAILED', code, message };
}
