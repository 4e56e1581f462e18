/**
 * What the platform can store and give back exactly. A value it would change on the way (a number
 * rounded to a double, a lone surrogate turned into U+FFFD) is refused with 400 and its field,
 * never stored as something else (issue 7, "Input that the platform would change is refused").
 *
 * Numbers: the platform keeps IEEE-754 doubles and gives them back with JSON.stringify. A number is
 * accepted when its magnitude is at most 2^53 - 1 (Number.MAX_SAFE_INTEGER: every integer up to it
 * is exact, and no double above it is a fraction, so the rule holds for all numbers), when it is
 * finite, and when it is not -0 (given back as 0). A number literal must also name the value its
 * double is given back as: see `numberLiteralProblem`.
 *
 * Strings: well-formed UTF-16 (no lone surrogate: String.prototype.isWellFormed) and no U+0000.
 * NUL is refused because not every store gives it back: BSON field names are C strings, and
 * PostgreSQL (FerretDB's default backend) cannot hold U+0000 in text or jsonb.
 */

declare global {
  interface String {
    /** ES2024 (tsconfig's lib is ES2023); Node 20 has it. False when the string holds a lone surrogate. */
    isWellFormed(): boolean;
    /** ES2024, like isWellFormed: each lone surrogate replaced by U+FFFD (for messages, never for stored values). */
    toWellFormed(): string;
  }
}

/** Why `text` cannot be stored and given back exactly, or null. */
export function stringProblem(text: string): string | null {
  if (!text.isWellFormed()) return 'is not well-formed Unicode (it has a lone surrogate)';
  if (text.includes('\0')) return 'contains U+0000 (NUL), which not every store keeps';
  return null;
}

/** Why the number `value` cannot be stored and given back exactly, or null. */
export function numberProblem(value: number): string | null {
  if (!Number.isFinite(value)) return 'is not a finite number';
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return 'is outside ±9007199254740991 (2^53 - 1), where a double is no longer exact';
  if (Object.is(value, -0)) return 'is -0, which JSON gives back as 0';
  return null;
}

/**
 * Why the JSON number literal `literal` (the request's text) cannot be stored and given back as
 * the same number, or null. It is parsed as JSON.parse does (to the nearest double) and compared,
 * as a decimal value, with what that double is given back as (`String(n)`, the shortest decimal
 * that reads back as the same double): "0.1", "1.50" and "1e2" pass (0.1, 1.5 and 100 come
 * back), "1.00000000000000001" and "0.1000000000000000055511151231257827" do not (both come back
 * as a shorter number: the digits past a double's ~17 were dropped), nor does "1e-400" (0). This is
 * lossless-json's isSafeNumber rule: the literal's significant digits must survive the round trip.
 */
export function numberLiteralProblem(literal: string): string | null {
  const value = Number(literal);
  const problem = numberProblem(value);
  if (problem !== null) return problem;
  return decimalOf(literal) === decimalOf(String(value)) ? null : 'has more digits than a double holds; it would be stored rounded';
}

const DECIMAL = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A decimal literal's value in one canonical spelling: sign, significant digits without leading or
 * trailing zeros, and the exponent of the digits read as an integer ("-1.50e3" -> "-15e2"), or "0".
 */
function decimalOf(literal: string): string {
  const match = DECIMAL.exec(literal);
  if (!match) return `not a number: ${literal}`;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  const all = whole + fraction;
  const first = all.search(/[1-9]/);
  if (first < 0) return '0';
  const digits = all.slice(first).replace(/0+$/, '');
  // all = digits followed by `trailing` zeros, read as an integer scaled by 10^-(fraction.length).
  const trailing = all.length - first - digits.length;
  return `${sign}${digits}e${BigInt(exponent) - BigInt(fraction.length) + BigInt(trailing)}`;
}
