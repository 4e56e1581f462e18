import { ApiError } from '../errors';
import { numberLiteralProblem } from './exactValues';

/**
 * A create body from its bytes, refusing what JSON.parse would silently change: bytes that are
 * not UTF-8 (a lenient decoder turns them into U+FFFD) and number literals a double cannot give
 * back as sent (JSON.parse rounds them). Strings are checked later, by request validation, on the
 * values it accepts (src/actions/exactValues.ts).
 *
 * Speed: the body can hold a million IDs (~16 MB), so the parse is JSON.parse's, and the numbers'
 * source text (which Node 20's JSON.parse does not expose) is read only when the text holds a
 * number that might be inexact. Proof that the fast path is exact: outside strings, a JSON number
 * always follows `:`, `,` or `[` and optional whitespace, and every number literal that is not a
 * plain integer of at most 15 digits (all exact: 10^15 < 2^53) either starts with "-0" or has 16
 * or more digits before any "." or exponent, or has a "." or an exponent after its first digits.
 * CANDIDATE matches all three anywhere in the text, strings included (so a string may send a
 * body down the slow path, never an inexact number down the fast one).
 *
 * Depth: V8's JSON.parse is not recursive, and nothing here is, so a body nested 100,000 deep
 * parses (and validation then refuses it with the field) instead of overflowing the stack.
 */
export function parseExactJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new ApiError('INVALID_BODY');
  let text: string;
  try {
    // fatal: invalid UTF-8 throws instead of becoming U+FFFD. A leading BOM is dropped, as
    // Fastify's own parser (secure-json-parse) did.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('INVALID_UTF8');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (thrown) {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    // V8 quotes the text near the error, which can split a surrogate pair: the message itself stays well-formed.
    throw new ApiError('INVALID_JSON', `The request body is not valid JSON: ${message.toWellFormed()}`);
  }
  // A body that is not an object is refused by validation whatever its numbers.
  if (typeof body === 'object' && body !== null && CANDIDATE.test(text)) {
    const inexact = firstInexactNumber(text);
    if (inexact) {
      throw new ApiError('UNREPRESENTABLE_NUMBER', `${inexact.path} ${inexact.problem}`, {
        field: inexact.path,
        received: inexact.literal.length > 40 ? `${inexact.literal.slice(0, 40)}...` : inexact.literal,
        reason: inexact.problem,
      });
    }
  }
  return body;
}

const CANDIDATE = /[:,[][ \t\n\r]*(?:-0|-?\d{16}|-?\d+[.eE])/;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** An open object (the key being read) or array (the index being read) on the way to a value. */
type Frame = { key: string | null; index: number; isArray: boolean; expectingKey: boolean };

/**
 * The first number literal in `text` (valid JSON) that numberLiteralProblem refuses, with its
 * path as validation names fields ("fieldsToUpdate.employees", "entityIds[3]"). One pass, no
 * recursion: strings are skipped with indexOf, keys decoded only when a path is reported.
 */
export function firstInexactNumber(text: string): { path: string; literal: string; problem: string } | null {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (top && !top.isArray && top.expectingKey) top.key = text.slice(i, end);
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      stack.push({ key: null, index: 0, isArray: c === OPEN_BRACKET, expectingKey: c === OPEN_BRACE });
      i++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      i++;
    } else if (c === COLON) {
      if (top) top.expectingKey = false;
      i++;
    } else if (c === COMMA) {
      if (top?.isArray) top.index++;
      else if (top) top.expectingKey = true;
      i++;
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      NUMBER.lastIndex = i;
      const literal = NUMBER.exec(text)?.[0] ?? text[i]!;
      const problem = numberLiteralProblem(literal);
      if (problem !== null) return { path: pathOf(stack), literal, problem };
      i += literal.length;
    } else {
      i++; // whitespace, and the letters of true, false and null
    }
  }
  return null;
}

/** The index just past the string literal that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let quote = text.indexOf('"', start + 1);
  for (;;) {
    if (quote < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    quote = text.indexOf('"', quote + 1);
  }
}

/** The path to the innermost open value; a path nested past MAX_PATH_FRAMES names its first frames and "...". */
function pathOf(stack: Frame[]): string {
  let path = '';
  for (const frame of stack.slice(0, MAX_PATH_FRAMES)) {
    if (frame.isArray) path += `[${frame.index}]`;
    else path += `${path === '' ? '' : '.'}${frame.key === null ? '' : (JSON.parse(frame.key) as string)}`;
  }
  return stack.length > MAX_PATH_FRAMES ? `${path}...` : path;
}

const MAX_PATH_FRAMES = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
