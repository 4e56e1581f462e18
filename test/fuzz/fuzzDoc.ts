import fc from 'fast-check';

/**
 * A create request body as the fuzzer builds it (test/support/arbitraries.ts makes them): a `Doc`
 * tree rather than a JS value, because what the fuzzer must send cannot all be a JS value: a
 * number as written (`9007199254740993`, `1e21`, `-0`), an own `__proto__` key, a string of raw
 * bytes that are not UTF-8. `docBytes` writes a tree out as the request body; the mutations and
 * byte damage below change one valid body into a near miss.
 */

export type Doc =
  | { t: 'obj'; entries: [string, Doc][] }
  | { t: 'arr'; items: Doc[] }
  /** A JS string, possibly ill-formed (a lone surrogate is written as its `\uXXXX` escape). `escaped`: every non-ASCII unit as `\uXXXX`. */
  | { t: 'str'; v: string; escaped?: boolean }
  /** A string literal whose content is these bytes verbatim: invalid UTF-8 inside quotes. */
  | { t: 'bytes'; b: Uint8Array }
  /** A number token, or any other text, written verbatim (`1e21`, `true`, a deep `[[[...]]]`). */
  | { t: 'raw'; raw: string };

/** A create request: its URL (which route) and its body's exact bytes. */
export interface FuzzRequest {
  url: string;
  body: Buffer;
}

/** A FuzzRequest that fast-check prints short: a counterexample of 200 KB would bury the report. */
export function fuzzRequest(url: string, body: Buffer): FuzzRequest {
  return { url, body, [fc.toStringMethod]: () => `POST ${url} ${printable(body)}` } as FuzzRequest;
}

/** Printable ASCII as is, every other byte as \xNN; long bodies cut in the middle. */
export function printable(body: Buffer): string {
  const show = (bytes: Buffer) => [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  if (body.length <= 400) return show(body);
  return `${show(body.subarray(0, 200))}…(${body.length} bytes)…${show(body.subarray(-100))}`;
}

export const str = (v: string): Doc => ({ t: 'str', v });
export const raw = (text: string): Doc => ({ t: 'raw', raw: text });
export const obj = (entries: [string, Doc][]): Doc => ({ t: 'obj', entries });

/** The body bytes of `doc`: compact JSON, UTF-8, except `bytes` nodes. */
export function docBytes(doc: Doc): Buffer {
  const chunks: Buffer[] = [];
  let text = '';
  const flush = () => {
    chunks.push(Buffer.from(text, 'utf8'));
    text = '';
  };
  const write = (d: Doc): void => {
    switch (d.t) {
      case 'obj':
        text += '{';
        d.entries.forEach(([key, value], i) => {
          text += `${i ? ',' : ''}${JSON.stringify(key)}:`;
          write(value);
        });
        text += '}';
        return;
      case 'arr':
        text += '[';
        d.items.forEach((item, i) => {
          if (i) text += ',';
          write(item);
        });
        text += ']';
        return;
      case 'str':
        // JSON.stringify writes a lone surrogate as its escape, so the text stays well-formed.
        text += d.escaped ? `"${escapeAll(d.v)}"` : JSON.stringify(d.v);
        return;
      case 'bytes':
        text += '"';
        flush();
        chunks.push(Buffer.from(d.b));
        text += '"';
        return;
      case 'raw':
        text += d.raw;
    }
  };
  write(doc);
  flush();
  return Buffer.concat(chunks);
}

function escapeAll(v: string): string {
  return JSON.stringify(v)
    .slice(1, -1)
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A URL path segment, percent-encoded; a lone surrogate becomes the bytes a CESU-8 encoder would send. */
export function pathSegment(value: string): string {
  let out = '';
  for (const c of value) {
    const unit = c.charCodeAt(0);
    const lone = c.length === 1 && unit >= 0xd800 && unit <= 0xdfff;
    out += lone ? [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('') : encodeURIComponent(c);
  }
  return out;
}


// ---- one mutation of a valid body ---------------------------------------------------------------

/** One change to one node of a body (nodes numbered in pre-order, the root is 0). */
export type Mutation =
  | { k: 'replace'; with: Doc }
  | { k: 'delete' }
  | { k: 'addKey'; key: string; value: Doc; at: number }
  | { k: 'wrapInArray' }
  /** The same strings written with `\uXXXX` escapes: the same document, so it must get the same answer. */
  | { k: 'escapeStrings' };

/** `doc` with `m` applied inside its top-level member `member` (added with `m` applied to null when absent). */
export function applyToMember(doc: Doc, member: string, at: number, m: Mutation): Doc {
  if (doc.t !== 'obj') return doc;
  const found = doc.entries.some(([key]) => key === member);
  const entries: [string, Doc][] = found ? doc.entries : [...doc.entries, [member, raw('null')]];
  return obj(entries.flatMap(([key, value]): [string, Doc][] => {
    if (key !== member) return [[key, value]];
    const changedValue = m.k === 'delete' && at % countNodes(value) === 0 ? null : applyMutation(value, at, m);
    return changedValue === null ? [] : [[key, changedValue]];
  }));
}

function countNodes(doc: Doc): number {
  if (doc.t === 'obj') return 1 + doc.entries.reduce((n, [, value]) => n + countNodes(value), 0);
  if (doc.t === 'arr') return 1 + doc.items.reduce((n, item) => n + countNodes(item), 0);
  return 1;
}

/** `doc` with `m` applied at node `index % nodes` (a new tree; `doc` is left as it was). */
export function applyMutation(doc: Doc, index: number, m: Mutation): Doc {
  const target = index % countNodes(doc);
  let seen = -1;
  const visit = (d: Doc): Doc | null => {
    const here = ++seen;
    if (here === target) return changed(d, m);
    if (d.t === 'obj') {
      const entries: [string, Doc][] = [];
      for (const [key, value] of d.entries) {
        const next = visit(value);
        if (next) entries.push([key, next]);
      }
      return obj(entries);
    }
    if (d.t === 'arr') return { t: 'arr', items: d.items.map(visit).filter((item): item is Doc => item !== null) };
    return d;
  };
  return visit(doc) ?? raw('');
}

/** The node after the mutation; null removes it from its parent. */
function changed(d: Doc, m: Mutation): Doc | null {
  switch (m.k) {
    case 'replace':
      return m.with;
    case 'delete':
      return null;
    case 'addKey': {
      if (d.t !== 'obj') return obj([[m.key, m.value]]);
      const entries = [...d.entries];
      entries.splice(m.at % (entries.length + 1), 0, [m.key, m.value]);
      return obj(entries);
    }
    case 'wrapInArray':
      return { t: 'arr', items: [d] };
    case 'escapeStrings':
      return escapeStrings(d);
  }
}

function escapeStrings(d: Doc): Doc {
  if (d.t === 'str') return { ...d, escaped: true };
  if (d.t === 'obj') return obj(d.entries.map(([key, value]) => [key, escapeStrings(value)]));
  if (d.t === 'arr') return { t: 'arr', items: d.items.map(escapeStrings) };
  return d;
}

// ---- byte-level corruption ----------------------------------------------------------------------------

/** Damage to a body's bytes: cut short, garbage after it, one byte changed, invalid UTF-8 put inside a string. */
export type ByteDamage =
  | { k: 'truncate'; at: number }
  | { k: 'append'; garbage: string }
  | { k: 'setByte'; at: number; byte: number }
  | { k: 'intoString'; nth: number; bytes: readonly number[] };

export function damage(body: Buffer, d: ByteDamage): Buffer {
  switch (d.k) {
    case 'truncate':
      return body.subarray(0, d.at % body.length);
    case 'append':
      return Buffer.concat([body, Buffer.from(d.garbage)]);
    case 'setByte': {
      const copy = Buffer.from(body);
      copy[d.at % copy.length] = d.byte;
      return copy;
    }
    case 'intoString': {
      // After an opening or closing quote: inside a string, or (after a closing one) between tokens.
      const quotes = [...body.keys()].filter((i) => body[i] === 0x22);
      if (quotes.length === 0) return body;
      const at = quotes[d.nth % quotes.length]! + 1;
      return Buffer.concat([body.subarray(0, at), Buffer.from(d.bytes), body.subarray(at)]);
    }
  }
}
