import type { JsonObject } from './types';

/** A plain object: not null, not an array. */
export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads a JSON object written earlier (storage can hold anything: old versions, other scripts). */
export function parseObject(raw: string | null): Record<string, unknown> | null {
  try {
    const value: unknown = raw ? JSON.parse(raw) : null;
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}
