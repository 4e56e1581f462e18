/* eslint-disable @typescript-eslint/no-explicit-any -- the spec's example, verbatim */
/*
 * The spec's Product handler (bulk-action-ingestion-flow.md, "Example: Adding Support for
 * "Product" Entity", step 1), pasted verbatim from its first line: only the import path differs,
 * since this copy lives in test/support rather than in src/handlers.
 */
// src/handlers/ProductHandler.ts
import { BaseEntityHandler } from '../../src/handlers/BaseEntityHandler';

export class ProductHandler extends BaseEntityHandler {
  constructor() {
    super('product');
  }

  async validateEntity(productId: string): Promise<boolean> {
    // Check if product exists and belongs to account
    return await this.crmClient.productExists(productId);
  }

  async updateEntity(productId: string, updates: Record<string, any>): Promise<void> {
    // Update product with new values
    await this.crmClient.updateProduct(productId, updates);
  }
}
