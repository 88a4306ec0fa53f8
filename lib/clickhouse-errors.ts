/**
 * Telling "ClickHouse refused this data" from "ClickHouse is unavailable". The first is about
 * rows (a value it cannot parse): retrying the same rows can never succeed, so the caller
 * isolates the refused rows and stores the rest. The second is about the server (network,
 * timeout, overload, a missing table during a deploy): the same rows will go in later, so the
 * caller retries with backoff. When in doubt it is an outage: a retry loses nothing.
 *
 * The code is read from the error text because @clickhouse/client-web only recognises the
 * current servers' format (`Code: 25. DB::Exception: ... (NAME)`); 18.16 answers
 * `Code: 25, e.displayText() = DB::Exception: ...`, which the client passes on as a plain Error.
 */

/**
 * Codes that describe input rows (names as in ClickHouse's ErrorCodes.cpp). Not here on
 * purpose: UNKNOWN_TABLE / NO_SUCH_COLUMN / unknown-field errors (16, 60, 117 for "Unknown
 * field"), which mean the schema is behind (a deploy before its migration), so every row
 * fails and every row will succeed once it is migrated.
 */
export const DATA_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  [25, 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [190, 'SIZES_OF_ARRAYS_DONT_MATCH'],
  [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
  [349, 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN'],
]);

/** INCORRECT_DATA (117) is data, except its "Unknown field" form, which is a schema behind the code. */
const INCORRECT_DATA = 117;

const CODE_PATTERN = /Code: (\d+)[.,]/;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The ClickHouse error code in an error from the client (both server formats), or null (network, timeout, ...). */
export function clickHouseErrorCode(error: unknown): number | null {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = Number((error as { code: unknown }).code);
    if (Number.isInteger(code) && code > 0) return code;
  }
  const match = CODE_PATTERN.exec(messageOf(error).slice(0, 200));
  return match?.[1] ? Number(match[1]) : null;
}

export type InsertFailure = 'data' | 'unavailable';

export function classifyInsertError(error: unknown): InsertFailure {
  const code = clickHouseErrorCode(error);
  if (code === null) return 'unavailable';
  if (code === INCORRECT_DATA) return /unknown field/i.test(messageOf(error)) ? 'unavailable' : 'data';
  return DATA_ERROR_CODES.has(code) ? 'data' : 'unavailable';
}

/** The server's words, bounded, for a dead letter's reason. */
export function clickHouseReason(error: unknown, maxLength = 500): string {
  return messageOf(error).replace(/\s+/g, ' ').trim().slice(0, maxLength);
}
