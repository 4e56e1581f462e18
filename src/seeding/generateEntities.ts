import type { EntitySchema, FieldSpec } from '../handlers/fieldSchema';
import { handlerFor, handlers as builtInHandlers } from '../handlers/index';
import type { EntityStore, NewEntity } from '../store/entityStore';

export interface GenerateOptions {
  /** The same seed always yields the same data. Default 1. */
  seed?: number;
  idPrefix: string;
  /** Index of the first entity; IDs are `${idPrefix}${index padded to 7 digits}`. Default 1. */
  startIndex?: number;
  /** Fraction (0..1) of contacts and leads that reuse the email of an earlier entity of the set. Default 0. */
  duplicateEmailRate?: number;
  /**
   * The type's declared fields, for a type without a hand-written maker here: its data is generated
   * from them. Defaults to the declaration in the built-in registry (src/handlers/index.ts); a type
   * with neither gets only a `name`.
   */
  schema?: EntitySchema;
}

export interface SeedOptions extends GenerateOptions {
  /** Entities per insertMany call (one transaction). Default 100,000: a random-order index (emails) is rewritten once per transaction, so fewer, larger ones cost far less; memory stays under ~100 MB. */
  chunkSize?: number;
  /** Called after each chunk with the number of entities inserted so far. */
  onProgress?: (done: number) => void;
  /**
   * Receives the IDs of each inserted chunk, in order. Its result is awaited, so a sink writing to a
   * stream can return a promise that settles on 'drain' and hold seeding back.
   */
  idSink?: (ids: string[]) => unknown;
}

const DEFAULT_SEED = 1;
const DEFAULT_CHUNK_SIZE = 100_000;
const ID_DIGITS = 7;
/** Keeps the "is this a duplicate" draws independent of the field draws of the same entity. */
const DUPLICATE_SALT = 0x5bd1e995;

// Small word lists: their pairings (1,080 people, 200 companies) give enough variety for demos.
const FIRST_NAMES = ['Ada', 'Alan', 'Amara', 'Ben', 'Carla', 'Chen', 'Dana', 'Diego', 'Elena', 'Emeka', 'Fatima', 'Grace',
  'Hiro', 'Ines', 'Ivan', 'Jonas', 'Kara', 'Liam', 'Lucia', 'Maya', 'Mohammed', 'Nadia', 'Noah', 'Olga', 'Omar', 'Priya',
  'Rafael', 'Sara', 'Sven', 'Tariq', 'Uma', 'Victor', 'Wei', 'Yara', 'Zoe', 'Kwame'] as const;
const LAST_NAMES = ['Adeyemi', 'Berg', 'Castillo', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Haddad', 'Ito', 'Jensen',
  'Kowalski', 'Lopez', 'Murphy', 'Nakamura', 'Okafor', 'Patel', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Ueda', 'Varga',
  'Wang', 'Xu', 'Yilmaz', 'Zhang', 'Novak', 'Silva', 'Kim', 'Moreau'] as const;
// Reserved for documentation (RFC 2606): generated addresses can never reach a real inbox.
const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example', 'corp.example'] as const;
const COMPANY_WORDS = ['Acme', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay',
  'Soylent', 'Cyberdyne', 'Tyrell', 'Aperture', 'Wonka', 'Gringotts', 'Oscorp', 'Contoso', 'Fabrikam', 'Tailspin', 'Litware'] as const;
const COMPANY_SUFFIXES = ['Labs', 'Group', 'Systems', 'Holdings', 'Partners', 'Industries', 'Analytics', 'Logistics',
  'Health', 'Software'] as const;
const TITLES = ['CEO', 'CTO', 'VP Sales', 'Head of Marketing', 'Account Executive', 'Engineer', 'Product Manager',
  'Operations Lead', 'Procurement Officer', 'Data Analyst', 'Office Manager', 'Founder'] as const;
const TAGS = ['newsletter', 'vip', 'webinar', 'trial', 'enterprise', 'smb', 'partner', 'event-2024', 'renewal', 'upsell'] as const;
const LEAD_SOURCES = ['website', 'referral', 'trade show', 'cold call', 'partner', 'paid search', 'social', 'webinar'] as const;
const INDUSTRIES = ['Software', 'Retail', 'Healthcare', 'Finance', 'Manufacturing', 'Education', 'Logistics', 'Media',
  'Energy', 'Hospitality'] as const;
const PRODUCT_ADJECTIVES = ['Basic', 'Premium', 'Compact', 'Smart', 'Eco', 'Pro', 'Ultra', 'Classic', 'Wireless', 'Modular'] as const;
const PRODUCT_NOUNS = ['Widget', 'Sensor', 'Router', 'Licence', 'Support Plan', 'Dashboard', 'Adapter', 'Camera',
  'Keyboard', 'Storage Pack'] as const;
const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'CAD', 'JPY'] as const;

/*
 * Every string that does not contain the index is built once here. A million generated entities
 * held at once are copied by each young-generation GC, so per-item strings and arrays are what
 * makes generation slow, not the arithmetic.
 */
const FULL_NAMES = combine(FIRST_NAMES, LAST_NAMES, (first, last) => `${first} ${last}`);
const EMAIL_LOCAL_PARTS = combine(FIRST_NAMES, LAST_NAMES, (first, last) => `${first}.${last}`.toLowerCase());
const EMAIL_SUFFIXES = EMAIL_DOMAINS.map((domain) => `@${domain}`);
const COMPANY_NAMES = combine(COMPANY_WORDS, COMPANY_SUFFIXES, (word, suffix) => `${word} ${suffix}`);
const COMPANY_SLUGS = combine(COMPANY_WORDS, COMPANY_SUFFIXES, (word, suffix) => `${word}-${suffix}-`.toLowerCase());
const DOMAIN_SUFFIX = '.example.com';
const PRODUCT_NAMES = combine(PRODUCT_ADJECTIVES, PRODUCT_NOUNS, (adjective, noun) => `${adjective} ${noun}`);
// 555-0100 to 555-0199 are the numbers reserved for fiction in North America.
const PHONES = combine(['212', '312', '415', '503', '617', '702', '737', '206', '303', '404'], Array.from({ length: 100 }, (_, n) => n),
  (area, n) => `+1-${area}-555-01${n < 10 ? '0' : ''}${n}`);
/** Tags are consecutive words of this doubled list: distinct, and one exact-size slice per contact. */
const TAGS_TWICE = [...TAGS, ...TAGS];

/**
 * mulberry32, repositioned per entity: every entity's values depend only on (seed, index), so
 * a chunk generated on its own equals the same slice of one big run, and a duplicate's email can
 * be rebuilt from its source's index without keeping earlier entities around.
 */
class Rng {
  private state = 0;

  seek(seed: number, index: number): void {
    // murmur3's finaliser spreads neighbouring indexes over the whole state space.
    let h = (seed ^ Math.imul(index, 0x9e3779b1)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    this.state = h ^ (h >>> 16);
  }

  /** A float in [0, 1). */
  next(): number {
    const a = (this.state = (this.state + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** Builds the email of entity `index` from the person drawn for it (replaced when it duplicates another). */
type EmailOf = (index: number, person: number, domain: number) => string;
type DataMaker = (rng: Rng, index: number, emailOf: EmailOf) => Record<string, unknown>;

/** Contacts and leads draw their person, then their email domain, first: see EntityGenerator.emailOf. */
const MAKERS: Readonly<Record<string, DataMaker>> = {
  contact(rng, index, emailOf) {
    const person = rng.int(FULL_NAMES.length);
    const email = emailOf(index, person, rng.int(EMAIL_DOMAINS.length));
    const statusDraw = rng.next();
    const tagStart = rng.int(TAGS.length);
    return {
      firstName: FIRST_NAMES[person % FIRST_NAMES.length],
      lastName: LAST_NAMES[Math.floor(person / FIRST_NAMES.length)],
      email,
      phone: rng.pick(PHONES),
      company: rng.pick(COMPANY_NAMES),
      title: rng.pick(TITLES),
      status: statusDraw < 0.35 ? 'lead' : statusDraw < 0.6 ? 'prospect' : statusDraw < 0.9 ? 'customer' : 'churned',
      tags: TAGS_TWICE.slice(tagStart, tagStart + rng.int(4)),
    };
  },

  lead(rng, index, emailOf) {
    const person = rng.int(FULL_NAMES.length);
    const email = emailOf(index, person, rng.int(EMAIL_DOMAINS.length));
    const statusDraw = rng.next();
    const status = statusDraw < 0.4 ? 'new' : statusDraw < 0.7 ? 'contacted' : statusDraw < 0.9 ? 'qualified' : 'lost';
    // A qualified lead already meets LeadHandler's minimum score, as it would in a real CRM.
    const score = status === 'qualified' ? 50 + rng.int(51) : rng.int(101);
    return { name: FULL_NAMES[person], email, source: rng.pick(LEAD_SOURCES), status, score };
  },

  account(rng, index) {
    const company = rng.int(COMPANY_NAMES.length);
    return {
      name: COMPANY_NAMES[company],
      domain: COMPANY_SLUGS[company] + (index + DOMAIN_SUFFIX),
      industry: rng.pick(INDUSTRIES),
      // Log-uniform from 1 to 100,000: most companies are small.
      employees: Math.floor(10 ** (rng.next() * 5)),
      status: rng.next() < 0.85 ? 'active' : 'inactive',
    };
  },

  product(rng, index) {
    // A few unpriced drafts, inactive, so "activate everything" shows ProductHandler's price rule failing.
    const draft = rng.next() < 0.03;
    const price = draft ? 0 : Math.round(10 ** (0.5 + rng.next() * 3.5) * 100) / 100;
    return {
      name: rng.pick(PRODUCT_NAMES),
      sku: `SKU-${padIndex(index)}`,
      price,
      currency: rng.pick(CURRENCIES),
      active: !draft && rng.next() < 0.9,
    };
  },
};

/** A type without a maker or a schema (a handler added later) still gets a recognisable record. */
const makeNamedOnly: DataMaker = (rng, index) => ({ name: `${rng.pick(COMPANY_NAMES)} ${index}` });

/** Share of nullable fields left null, so a demo shows empty values too. */
const NULL_RATE = 0.1;
/** Range of an integer or number field that declares neither bound. */
const DEFAULT_SPAN = 1000;

/**
 * Data for a type that declares its fields but has no maker above: every declared field gets a
 * value its spec accepts (readOnly fields included: they are data), except a string with a
 * `pattern` and no `examples`, which no generic value can be trusted to match and is left unset.
 * Dates fall in the declared bounds, by default 2024 to 2027. Like the contact
 * and lead makers, it draws its person and email domain first, so duplicateEmailRate works on an
 * email field.
 */
function makerFromSchema(schema: EntitySchema): DataMaker {
  const fields = Object.entries(schema);
  return (rng, index, emailOf) => {
    const person = rng.int(FULL_NAMES.length);
    const domain = rng.int(EMAIL_DOMAINS.length);
    const data: Record<string, unknown> = {};
    for (const [field, spec] of fields) {
      if (spec.nullable && rng.next() < NULL_RATE) {
        data[field] = null;
        continue;
      }
      const value = valueFor(field, spec, rng, index, () => emailOf(index, person, domain), person);
      if (value !== undefined) data[field] = value;
    }
    return data;
  };
}

/** A value `spec` accepts, chosen by the field's name where that suggests one; undefined when none can be made. */
function valueFor(field: string, spec: FieldSpec, rng: Rng, index: number, email: () => string, person: number): unknown {
  switch (spec.type) {
    case 'string': {
      if (spec.pattern) return spec.examples && spec.examples.length > 0 ? rng.pick(spec.examples) : undefined;
      const max = spec.maxLength ?? Infinity;
      if (spec.format === 'email') {
        const address = email();
        return address.length <= max ? address : undefined;
      }
      return textFor(field, rng, index, person).slice(0, max);
    }
    case 'enum':
      return spec.values.length > 0 ? rng.pick(spec.values) : undefined;
    case 'integer': {
      const [low, high] = bounds(spec.min, spec.max);
      const lo = Math.ceil(low);
      const hi = Math.floor(high);
      return lo <= hi ? lo + rng.int(hi - lo + 1) + 0 : undefined;
    }
    case 'number': {
      const [lo, hi] = bounds(spec.min, spec.max);
      // Two decimals, like a price; `+ 0` turns -0 into 0, which the stores could not give back.
      const value = Math.round((lo + rng.next() * (hi - lo)) * 100) / 100 + 0;
      return value >= lo && value <= hi ? value : lo + 0;
    }
    case 'boolean':
      return rng.next() < 0.5;
    case 'string[]': {
      const count = rng.int(Math.min(spec.maxItems ?? 3, 3) + 1);
      const start = rng.int(TAGS.length);
      return TAGS_TWICE.slice(start, start + count).map((tag) => tag.slice(0, spec.maxLength ?? Infinity));
    }
    case 'date': {
      const [first, last] = dateBounds(spec.min, spec.max);
      return new Date((first + rng.int(last - first + 1)) * DAY_MS).toISOString().slice(0, 10);
    }
    case 'datetime': {
      // To the second, in UTC ("Z"): a valid RFC 3339 date-time, as a client would send one.
      const [firstDay, lastDay] = dateBounds(undefined, undefined);
      const seconds = firstDay * DAY_SECONDS + rng.int((lastDay - firstDay + 1) * DAY_SECONDS);
      return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
    }
  }
}

const DAY_SECONDS = 86_400;
const DAY_MS = DAY_SECONDS * 1000;
const DEFAULT_FIRST_DATE = '2024-01-01';
const DEFAULT_LAST_DATE = '2027-12-31';

/** Four years, in days: the range of a date field that declares one bound only. */
const DATE_SPAN_DAYS = 1461;

/**
 * A date field's range as day numbers: its declared bounds, a missing one DATE_SPAN_DAYS from the
 * other (within years 0000 to 9999, what YYYY-MM-DD can write), or 2024 to 2027 when it declares none.
 */
function dateBounds(min: string | undefined, max: string | undefined): [number, number] {
  if (min === undefined && max === undefined) return [dayNumber(DEFAULT_FIRST_DATE), dayNumber(DEFAULT_LAST_DATE)];
  const first = min !== undefined ? dayNumber(min) : Math.max(dayNumber('0000-01-01'), dayNumber(max as string) - DATE_SPAN_DAYS);
  const last = max !== undefined ? dayNumber(max) : Math.min(dayNumber('9999-12-31'), first + DATE_SPAN_DAYS);
  return [first, last];
}

/** Days since 1970-01-01 of a YYYY-MM-DD date (a schema bound, checked at start by assertValidSchema). */
function dayNumber(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

/** Declared bounds, either missing one filled in DEFAULT_SPAN away from the other (0 when both are). */
function bounds(min: number | undefined, max: number | undefined): [number, number] {
  const lo = min ?? (max !== undefined ? Math.min(0, max - DEFAULT_SPAN) : 0);
  return [lo, max ?? lo + DEFAULT_SPAN];
}

/** Text that looks like what the field's name says it holds. */
function textFor(field: string, rng: Rng, index: number, person: number): string {
  const name = field.toLowerCase();
  if (/first/.test(name)) return FIRST_NAMES[person % FIRST_NAMES.length] as string;
  if (/last|surname/.test(name)) return LAST_NAMES[Math.floor(person / FIRST_NAMES.length)] as string;
  if (/phone/.test(name)) return rng.pick(PHONES);
  if (/title|role/.test(name)) return rng.pick(TITLES);
  if (/industry/.test(name)) return rng.pick(INDUSTRIES);
  if (/source/.test(name)) return rng.pick(LEAD_SOURCES);
  if (/currency/.test(name)) return rng.pick(CURRENCIES);
  if (/domain|website|url/.test(name)) return COMPANY_SLUGS[rng.int(COMPANY_SLUGS.length)] + (index + DOMAIN_SUFFIX);
  if (/company|organi[sz]ation/.test(name)) return rng.pick(COMPANY_NAMES);
  if (/name/.test(name)) return `${rng.pick(COMPANY_NAMES)} ${index}`;
  if (/product|item|sku/.test(name)) return rng.pick(PRODUCT_NAMES);
  return `${rng.pick(PRODUCT_ADJECTIVES)} ${field} ${index}`;
}

class EntityGenerator {
  private readonly rng = new Rng();
  /** Separate stream for duplicate decisions and source lookups, so they never disturb `rng` mid-entity. */
  private readonly aux = new Rng();
  private readonly make: DataMaker;
  private readonly seed: number;
  private readonly rate: number;
  private readonly idPrefix: string;

  /** `origin` is the first index of the whole set: duplicates only point back as far as it. */
  constructor(entityType: string, options: GenerateOptions, private readonly origin: number) {
    const schema = options.schema ?? handlerFor(builtInHandlers, entityType)?.fields;
    this.make = Object.hasOwn(MAKERS, entityType) ? (MAKERS[entityType] as DataMaker) : schema ? makerFromSchema(schema) : makeNamedOnly;
    this.seed = options.seed ?? DEFAULT_SEED;
    this.rate = options.duplicateEmailRate ?? 0;
    this.idPrefix = options.idPrefix;
    if (!Number.isInteger(this.seed)) throw new RangeError(`seed must be an integer; got ${this.seed}`);
    if (!(this.rate >= 0 && this.rate <= 1)) throw new RangeError(`duplicateEmailRate must be from 0 to 1; got ${this.rate}`);
    if (!Number.isSafeInteger(origin) || origin < 0) throw new RangeError(`startIndex must be a non-negative integer; got ${origin}`);
  }

  range(from: number, count: number): NewEntity[] {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer; got ${count}`);
    const entities: NewEntity[] = [];
    for (let index = from; index < from + count; index++) {
      this.rng.seek(this.seed, index);
      entities.push({ id: this.idPrefix + padIndex(index), data: this.make(this.rng, index, this.emailOf) });
    }
    return entities;
  }

  /** Unique by construction (the index is part of it) unless the entity duplicates an earlier one. */
  private readonly emailOf: EmailOf = (index, person, domain) => {
    const source = this.emailSourceOf(index);
    if (source !== index) {
      // Replays the source's first two draws: the same person and domain, hence the same email.
      this.aux.seek(this.seed, source);
      person = this.aux.int(FULL_NAMES.length);
      domain = this.aux.int(EMAIL_DOMAINS.length);
    }
    // Short parts first: one flat string plus one rope node, instead of a rope per `+`.
    return EMAIL_LOCAL_PARTS[person] + ('.' + source + EMAIL_SUFFIXES[domain]);
  };

  /**
   * The entity whose own email `index` uses. A duplicate picks an earlier entity; if that one is a
   * duplicate too, the chain is followed to the original, so every duplicate's email really exists.
   */
  private emailSourceOf(index: number): number {
    let source = index;
    while (this.rate > 0 && source > this.origin) {
      this.aux.seek(this.seed ^ DUPLICATE_SALT, source);
      if (this.aux.next() >= this.rate) break;
      source = this.origin + this.aux.int(source - this.origin);
    }
    return source;
  }
}

/** Deterministic fake entities whose data satisfies the type's handler schema. */
export function generateEntities(entityType: string, count: number, options: GenerateOptions): NewEntity[] {
  const start = options.startIndex ?? 1;
  return new EntityGenerator(entityType, options, start).range(start, count);
}

/**
 * Generates and inserts `count` entities chunk by chunk, so seeding a million keeps memory flat.
 * Returns the IDs only when there is no `idSink`; callers seeding millions should pass one.
 */
export async function seedEntities(
  store: EntityStore, entityType: string, accountId: string, count: number, options: SeedOptions & { idSink: NonNullable<SeedOptions['idSink']> },
): Promise<void>;
export async function seedEntities(
  store: EntityStore, entityType: string, accountId: string, count: number, options: SeedOptions,
): Promise<string[]>;
export async function seedEntities(
  store: EntityStore, entityType: string, accountId: string, count: number, options: SeedOptions,
): Promise<string[] | void> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer; got ${count}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer; got ${chunkSize}`);
  const start = options.startIndex ?? 1;
  const generator = new EntityGenerator(entityType, options, start);
  const collected: string[] | undefined = options.idSink ? undefined : [];
  for (let done = 0; done < count; ) {
    const size = Math.min(chunkSize, count - done);
    const chunk = generator.range(start + done, size);
    await store.insertMany(entityType, accountId, chunk, Date.now());
    const ids = chunk.map((entity) => entity.id);
    if (options.idSink) await options.idSink(ids);
    else collected?.push(...ids);
    done += size;
    options.onProgress?.(done);
  }
  return collected;
}

function padIndex(index: number): string {
  return String(index).padStart(ID_DIGITS, '0');
}

/** Every pairing of `left` and `right`; pairing k is (left[k % left.length], right[floor(k / left.length)]). */
function combine<A, B>(left: readonly A[], right: readonly B[], join: (a: A, b: B) => string): string[] {
  const out: string[] = [];
  for (const b of right) for (const a of left) out.push(join(a, b));
  return out;
}
