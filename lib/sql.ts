/**
 * SQL for ClickHouse is built here and only here. ClickHouse 18.16 has no server-side
 * query parameters, so values are inlined as literals through `literal()`, and
 * identifiers only ever come from allow-lists via `identifier()`.
 */

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
};

/** A string literal ClickHouse parses back to exactly `value` (any unicode, NUL included). */
export function stringLiteral(value: string): string {
  return `'${value.replace(/[\\'\n\r\t\0\b\f]/g, (char) => ESCAPES[char] ?? char)}'`;
}

export type SqlValue = string | number | bigint | boolean | null | Date | readonly SqlValue[];

export function literal(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return stringLiteral(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return String(value);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('invalid date');
    return `toDateTime(${Math.floor(value.getTime() / 1000)})`;
  }
  return `[${value.map(literal).join(', ')}]`;
}

/** An identifier taken from an allow-list; anything else is a programming error. */
export function identifier<T extends string>(name: string, allowed: readonly T[]): T {
  const found = allowed.find((candidate) => candidate === name);
  if (!found || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(found)) throw new TypeError(`identifier not allowed: ${name}`);
  return found;
}

/**
 * Tagged template: `sql\`SELECT ... WHERE id = ${value}\`` inlines every interpolation as
 * a literal. Use `raw()` for fragments built by this module's callers from allow-lists.
 */
export class RawSql {
  constructor(readonly text: string) {}
}

export function raw(text: string): RawSql {
  return new RawSql(text);
}

export function sql(strings: TemplateStringsArray, ...values: (SqlValue | RawSql)[]): string {
  let text = strings[0] ?? '';
  values.forEach((value, index) => {
    text += (value instanceof RawSql ? value.text : literal(value)) + (strings[index + 1] ?? '');
  });
  return text;
}
