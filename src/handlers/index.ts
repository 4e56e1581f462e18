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
 * Throws an Error naming the type for a registry the platform cannot serve: a key that differs
 * from its handler's `entityType` (actions are stored under the handler's name and found again
 * by key), or a field declaration no value could be checked against (`assertValidSchema`).
 * Called when a platform is built, so a mistake in a new handler stops the start, not a request.
 */
export function assertValidRegistry(registry: HandlerRegistry): void {
  for (const [name, handler] of Object.entries(registry)) {
    if (handler.entityType !== name) {
      throw new Error(`the registry key "${name}" holds a handler of entityType "${handler.entityType}": they must be the same name`);
    }
    if (handler.fields) assertValidSchema(name, handler.fields);
  }
}
