/**
 * The fuzz oracle's reading of a JSON body: what a client *sent*, exactly, independent of how the
 * platform parses it. JSON.parse cannot say that: it rounds 9007199254740993 to 9007199254740992
 * and a decoder replaces invalid UTF-8 with U+FFFD, which is the very loss the fuzzer looks for.
 *
 * - Numbers stay as their source text (`ExactNumber`) and compare by mathematical value, so
 *   `1e21` equals `1e+21` and `-0` equals `0`, but `9007199254740993` does not equal `9007199254740992`.
 * - Strings are JS strings, escapes decoded; a `\ud800` escape gives a lone surrogate, as sent.
 * - Objects are null-prototype records, so `__proto__` is an ordinary own key; `duplicateKeys`
 *   says whether some object named a key twice (the last one wins, as in JSON.parse).
 */

export class ExactNumber {
  constructor(readonly text: string) {}
}

export type ExactValue = null | boolean | string | ExactNumber | ExactValue[] | { [key: string]: ExactValue };

export type ExactReading =
  | { ok: true; value: ExactValue; duplicateKeys: boolean }
  /** `notUtf8`: the bytes are not UTF-8, so no string was sent; `notJson`: not one JSON document; `tooDeep`: nested past MAX_DEPTH. */
  | { ok: false; reason: 'notUtf8' | 'notJson' | 'tooDeep' };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads `bytes` as RFC 8259 JSON in strict UTF-8 (a leading BOM is dropped, as the platform does). */
export function readExactJson(bytes: Uint8Array): ExactReading {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'notUtf8' };
  }
  const reader = new Reader(text);
  try {
    reader.skipSpace();
    const value = reader.value(0);
    reader.skipSpace();
    if (reader.pos !== text.length) return { ok: false, reason: 'notJson' };
    return { ok: true, value, duplicateKeys: reader.duplicateKeys };
  } catch (thrown) {
    if (thrown instanceof NotJson) return { ok: false, reason: thrown.message === 'tooDeep' ? 'tooDeep' : 'notJson' };
    throw thrown;
  }
}

class NotJson extends Error {}

/** Deeper than this the oracle stops reading: no create body nests past 3, so such a body must be refused. */
const MAX_DEPTH = 200;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class Reader {
  pos = 0;
  duplicateKeys = false;
  constructor(private readonly text: string) {}

  skipSpace(): void {
    while (' \t\n\r'.includes(this.text[this.pos] ?? 'x')) this.pos++;
  }

  value(depth: number): ExactValue {
    if (depth > MAX_DEPTH) throw new NotJson('tooDeep');
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw new NotJson();
    this.pos += match[0].length;
    return new ExactNumber(match[0]);
  }

  private object(depth: number): ExactValue {
    const result: Record<string, ExactValue> = Object.create(null) as Record<string, ExactValue>;
    this.pos++;
    this.skipSpace();
    if (this.eat('}')) return result;
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') throw new NotJson();
      const key = this.string();
      this.skipSpace();
      if (!this.eat(':')) throw new NotJson();
      this.skipSpace();
      if (Object.hasOwn(result, key)) this.duplicateKeys = true;
      result[key] = this.value(depth + 1);
      this.skipSpace();
      if (this.eat('}')) return result;
      if (!this.eat(',')) throw new NotJson();
    }
  }

  private array(depth: number): ExactValue {
    const result: ExactValue[] = [];
    this.pos++;
    this.skipSpace();
    if (this.eat(']')) return result;
    for (;;) {
      this.skipSpace();
      result.push(this.value(depth + 1));
      this.skipSpace();
      if (this.eat(']')) return result;
      if (!this.eat(',')) throw new NotJson();
    }
  }

  private string(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined || c < ' ') throw new NotJson();
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++] ?? '';
      if (e === 'u') {
        const hex = this.text.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new NotJson();
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 4;
      } else if (Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
      } else {
        throw new NotJson();
      }
    }
  }

  private eat(c: string): boolean {
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }
}

/** A JSON number's value as sign, significant digits and a power of ten: equal values, equal keys. */
function numberKey(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new Error(`not a JSON number: ${text}`);
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int! + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  let power = BigInt(exp) - BigInt(frac.length);
  const trimmed = digits.replace(/0+$/, '');
  power += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${sign}${digits}e${power}`;
}

/**
 * Whether `got` (a value as the platform gave it back, read with readExactJson) is exactly `sent`:
 * same keys, same strings code unit for code unit, numbers of the same mathematical value.
 * Returns null when equal, else the first path that differs.
 */
export function exactDifference(sent: ExactValue, got: ExactValue, path = '$'): string | null {
  if (sent instanceof ExactNumber || got instanceof ExactNumber) {
    if (sent instanceof ExactNumber && got instanceof ExactNumber && numberKey(sent.text) === numberKey(got.text)) return null;
    return `${path}: sent ${show(sent)}, got ${show(got)}`;
  }
  if (Array.isArray(sent) || Array.isArray(got)) {
    if (!Array.isArray(sent) || !Array.isArray(got) || sent.length !== got.length) return `${path}: sent ${show(sent)}, got ${show(got)}`;
    for (let i = 0; i < sent.length; i++) {
      const difference = exactDifference(sent[i]!, got[i]!, `${path}[${i}]`);
      if (difference) return difference;
    }
    return null;
  }
  if (isRecord(sent) || isRecord(got)) {
    if (!isRecord(sent) || !isRecord(got)) return `${path}: sent ${show(sent)}, got ${show(got)}`;
    const keys = Object.keys(sent);
    if (keys.length !== Object.keys(got).length) return `${path}: sent keys ${show(keys)}, got ${show(Object.keys(got))}`;
    for (const key of keys) {
      if (!Object.hasOwn(got, key)) return `${path}: key ${show(key)} missing`;
      const difference = exactDifference(sent[key]!, got[key]!, `${path}.${key}`);
      if (difference) return difference;
    }
    return null;
  }
  return sent === got ? null : `${path}: sent ${show(sent)}, got ${show(got)}`;
}

export function isRecord(value: ExactValue | undefined): value is { [key: string]: ExactValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ExactNumber);
}

/** The same text for values exactly equal (numbers by value): a key for sets of sent values. */
export function canonical(value: ExactValue): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof ExactNumber ? `#${numberKey(v.text)}` : v));
}

/** A value for a failure message: numbers as sent, lone surrogates as escapes (JSON.stringify's own). */
export function show(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof ExactNumber ? `#${v.text}` : v)) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…(${text.length} chars)` : text;
}
