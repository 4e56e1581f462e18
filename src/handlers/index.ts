import type { EntityType } from '../types/entities';
import type { BaseEntityHandler } from './BaseEntityHandler';
import { AccountHandler } from './AccountHandler';
import { ContactHandler } from './ContactHandler';
import { LeadHandler } from './LeadHandler';
import { ProductHandler } from './ProductHandler';

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
