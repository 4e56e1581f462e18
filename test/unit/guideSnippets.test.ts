import { describe, expect, it } from 'vitest';
import { withEntityTypeSnippet, withMakerSnippet, withRegistrySnippet } from '../support/guideSnippets';

/**
 * The guide's snippets are applied as a reader applies them: by adding their new lines. A type
 * added to the real files since the guide was written (here `invoice`) must stay; replacing the
 * files' lists with the guide's dropped it and turned the guide's typecheck red (issue 8 trial).
 */

const realIndex = `import type { EntityType } from '../types/entities';
import type { BaseEntityHandler } from './BaseEntityHandler';
import { ContactHandler } from './ContactHandler';
import { InvoiceHandler } from './InvoiceHandler';

export const handlers = {
  contact: new ContactHandler(),
  invoice: new InvoiceHandler(),
} satisfies Record<EntityType, BaseEntityHandler>;
`;

const registrySnippet = `// src/handlers/index.ts
import { OpportunityHandler } from './OpportunityHandler';

export const handlers = {
  contact: new ContactHandler(),
  opportunity: new OpportunityHandler(),
} satisfies Record<EntityType, BaseEntityHandler>;
`;

describe('withRegistrySnippet', () => {
  it('adds the import and the entry the real file lacks, and keeps what it has', () => {
    expect(withRegistrySnippet(realIndex, registrySnippet)).toBe(`import type { EntityType } from '../types/entities';
import type { BaseEntityHandler } from './BaseEntityHandler';
import { ContactHandler } from './ContactHandler';
import { InvoiceHandler } from './InvoiceHandler';
import { OpportunityHandler } from './OpportunityHandler';

export const handlers = {
  contact: new ContactHandler(),
  invoice: new InvoiceHandler(),
  opportunity: new OpportunityHandler(),
} satisfies Record<EntityType, BaseEntityHandler>;
`);
  });

  it('changes nothing once the guide was followed', () => {
    const followed = withRegistrySnippet(realIndex, registrySnippet);
    expect(withRegistrySnippet(followed, registrySnippet)).toBe(followed);
  });
});

describe('withEntityTypeSnippet', () => {
  const real = "/** Types. */\nexport type EntityType =\n  | 'contact'\n  | 'invoice';\n\nexport type X = 1;\n";
  const snippet = "// src/types/entities.ts\nexport type EntityType =\n  | 'contact'\n  | 'opportunity';\n";

  it('adds the members the real union lacks, and keeps what it has', () => {
    expect(withEntityTypeSnippet(real, snippet)).toBe(
      "/** Types. */\nexport type EntityType =\n  | 'contact'\n  | 'invoice'\n  | 'opportunity';\n\nexport type X = 1;\n",
    );
  });

  it('changes nothing once the guide was followed', () => {
    const followed = withEntityTypeSnippet(real, snippet);
    expect(withEntityTypeSnippet(followed, snippet)).toBe(followed);
  });
});

describe('withMakerSnippet', () => {
  const real = "const MAKERS: Readonly<Record<string, DataMaker>> = {\n  contact(rng) {\n    return {};\n  },\n};\n\nconst after = 1;\n";
  const snippet = '// src/seeding/generateEntities.ts, in MAKERS\n  opportunity(rng, index) {\n    return { index };\n  },\n';

  it('adds the maker at the end of MAKERS', () => {
    expect(withMakerSnippet(real, snippet)).toBe(
      "const MAKERS: Readonly<Record<string, DataMaker>> = {\n  contact(rng) {\n    return {};\n  },\n  opportunity(rng, index) {\n    return { index };\n  },\n};\n\nconst after = 1;\n",
    );
  });

  it('keeps a maker of that name the reader already has', () => {
    const followed = withMakerSnippet(real, snippet);
    expect(withMakerSnippet(followed, snippet)).toBe(followed);
  });
});
