import type { EntityType } from '../types/entities';
import type { BaseEntityHandler } from './BaseEntityHandler';
import { AccountHandler } from './AccountHandler';
import { ContactHandler } from './ContactHandler';
import { LeadHandler } from './LeadHandler';
import { ProductHandler } from './ProductHandler';
import { assertValidSchema } from './fieldSchema';

/** The handler registry: one line per entity type. Its keys are the types the API accepts. */
export const handlers = {
  contact: new ContactHandler(),
  lead: new LeadHandler(),
  account: new AccountHandler(),
  product: new ProductHandler(),
} satisfies Record<EntityType, BaseEntityHandler>;

/** What the core is given: any registry, so tests and embedders can add types. */
export type HandlerRegistry = Readonly<Record<string, BaseEntityHandler>>;

export function handlerFor(registry: HandlerRegistry, entityType: string): BaseEntityHandler | undefined {
  return Object.hasOwn(registry, entityType) ? registry[entityType] : undefined;
}

/**
 * A type's name: what the spec's client names are built from (`productExists`, `updateProduct`),
 * so an identifier that starts with a lower-case letter. 'many' would make `updateMany` both the
 * generic method and the type's.
 */
const TYPE_NAME = /^[a-z][A-Za-z0-9]*$/;

/**
 * Throws an Error naming the type for a registry the platform cannot serve: a name the spec's
 * client names cannot be built from (TYPE_NAME), a key that differs from its handler's
 * `entityType` (actions are stored under the handler's name and found again by key), a `dedupeKey`
 * that is not a declared string field, or a field declaration that cannot work (`assertValidSchema`).
 * Called when a platform is built and before seeding, so a mistake in a new handler stops the
 * start, not a request.
 */
export function assertValidRegistry(registry: HandlerRegistry): void {
  for (const [name, handler] of Object.entries(registry)) {
    if (!TYPE_NAME.test(name) || name === 'many') {
      throw new Error(`the entity type "${name}" must be a camelCase identifier (letters and digits, a lower-case first letter) other than "many": crmClient.${name}Exists and update<Type> are built from it`);
    }
    if (handler.entityType !== name) {
      throw new Error(`the registry key "${name}" holds a handler of entityType "${handler.entityType}": they must be the same name`);
    }
    if (!handler.fields) continue;
    assertValidSchema(name, handler.fields);
    const key = handler.dedupeKey;
    if (key !== undefined && (!Object.hasOwn(handler.fields, key) || handler.fields[key]?.type !== 'string')) {
      throw new Error(`${name}.dedupeKey "${key}" must be one of its declared string fields (de-duplication compares stored strings)`);
    }
  }
}
