import path from 'node:path';

/**
 * Reading docs/adding-an-entity-type.md as a reader follows it: the code block of a file is the
 * one whose first line is `// <path>`, and the registry and EntityType snippets are applied to the
 * real files the way a reader edits them.
 */

/** The one typescript block of `markdown` whose first line is `// <file>`; throws unless there is exactly one. */
export function codeBlockOf(markdown: string, file: string): string {
  const blocks = [...markdown.matchAll(/^```typescript\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
  const marked = blocks.filter((code) => code.split('\n', 1)[0]?.trim() === `// ${file}`);
  if (marked.length !== 1) throw new Error(`expected one typescript block starting with "// ${file}", found ${marked.length}`);
  return marked[0] as string;
}

/**
 * `src/handlers/index.ts` after step 2, as a reader edits it: the snippet's imports and registry
 * entries that the real file lacks are added to it; what the real file has (types added since
 * the guide was written) stays.
 */
export function withRegistrySnippet(realIndex: string, snippet: string): string {
  const registry = /^export const handlers = \{([\s\S]*?)^\} satisfies [^;\n]*;/m;
  const shown = mustMatch(snippet, registry, 'the snippet of src/handlers/index.ts');
  const real = mustMatch(realIndex, registry, 'src/handlers/index.ts');
  const entry = /^ {2}(\w+): new \w+\(\),$/gm;
  const realKeys = new Set([...real.matchAll(entry)].map((m) => m[1]));
  const newEntries = [...shown.matchAll(entry)].filter((m) => !realKeys.has(m[1])).map((m) => m[0]);
  const closing = real.lastIndexOf('\n}') + 1;
  const registryAfter = [real.slice(0, closing), ...newEntries.map((line) => `${line}\n`), real.slice(closing)].join('');

  const imports = [...snippet.matchAll(/^import .*;$/gm)].map((m) => m[0]).filter((line) => !realIndex.includes(line));
  const lastImport = [...realIndex.matchAll(/^import .*;$/gm)].at(-1);
  if (!lastImport) throw new Error('src/handlers/index.ts has no import line');
  const at = (lastImport.index ?? 0) + lastImport[0].length;
  const withImports = [realIndex.slice(0, at), ...imports, realIndex.slice(at + 1)].join('\n');
  return withImports.replace(registry, () => registryAfter);
}

/** `src/types/entities.ts` after step 3: the snippet's `EntityType` members that the real union lacks, added to it. */
export function withEntityTypeSnippet(realEntities: string, snippet: string): string {
  const declaration = /^export type EntityType =[^;]*;/m;
  const member = /\|\s*'([^']+)'/g;
  const shown = mustMatch(snippet, declaration, 'the snippet of src/types/entities.ts');
  const real = mustMatch(realEntities, declaration, 'src/types/entities.ts');
  const realMembers = new Set([...real.matchAll(member)].map((m) => m[1]));
  const added = [...shown.matchAll(member)].map((m) => m[1]).filter((name) => !realMembers.has(name));
  const after = real.replace(/;$/, added.map((name) => `\n  | '${name}'`).join('') + ';');
  return realEntities.replace(declaration, () => after);
}

/**
 * `code`, written for `fromDir`, with its relative imports pointing at the same files from `toDir`
 * (both absolute), so a copy of a guide's file runs against the real modules, the same instances
 * the platform uses. `moved` maps a module the guide creates (absolute, no extension) to where its
 * copy is.
 */
export function withImportsFrom(code: string, fromDir: string, toDir: string, moved: Readonly<Record<string, string>> = {}): string {
  return code.replace(/(from\s+')(\.\.?\/[^']*)(')/g, (_whole, head: string, specifier: string, tail: string) => {
    const target = path.resolve(fromDir, specifier);
    const relative = path.relative(toDir, moved[target] ?? target);
    return head + (relative.startsWith('.') ? relative : `./${relative}`) + tail;
  });
}

/**
 * `src/seeding/generateEntities.ts` with the guide's maker (its block, first line dropped) added at
 * the end of MAKERS, unless MAKERS has a maker of that name already (the reader's own, which stays).
 */
export function withMakerSnippet(realGenerate: string, snippet: string): string {
  const makers = /^const MAKERS: [^=]+= \{\n[\s\S]*?^\};/m;
  const real = mustMatch(realGenerate, makers, 'src/seeding/generateEntities.ts');
  const maker = snippet.slice(snippet.indexOf('\n') + 1);
  const name = /^ {2}(\w+)\(/m.exec(maker)?.[1];
  if (name === undefined) throw new Error('the guide\'s maker snippet has no "  name(" line');
  if (new RegExp(`^ {2}${name}\\(`, 'm').test(real)) return realGenerate;
  return realGenerate.replace(makers, () => `${real.slice(0, -2)}${maker}};`);
}

function mustMatch(text: string, pattern: RegExp, what: string): string {
  const found = pattern.exec(text)?.[0];
  if (found === undefined) throw new Error(`${what} has no ${pattern.source}`);
  return found;
}
