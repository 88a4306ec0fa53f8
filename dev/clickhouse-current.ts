/**
 * A current ClickHouse engine (26.7, in-process through the npm package `chdb`) behind the part of
 * ClickHouse's HTTP interface that `@clickhouse/client-web` uses, so tests and `npm run dev` can run the
 * product against a current release; the only real server this machine can install is 18.16.
 *
 * Real: the SQL engine, storage (MergeTree and friends, persisted under `dataDir`), the input and output
 * formats, the settings and the exception texts all come from ClickHouse itself.
 *
 * Emulated, as a server does it:
 * - `POST /` with the query in the body; `POST /?query=...` with the body appended after a newline
 *   (how inserts arrive); `GET /?query=...`; `GET /ping` and `GET /` answer `Ok.\n`.
 * - `database` (or the `X-ClickHouse-Database` header), `default_format` (or `X-ClickHouse-Format`;
 *   TabSeparated if neither), `query_id` (echoed in `X-ClickHouse-Query-Id`, a UUID when missing),
 *   `param_<name>` query parameters, and other URL parameters as settings for that one request
 *   (`SET name = 'value'` before the query, `SET name = DEFAULT` after it).
 * - Formats: chdb's format argument behaves like a server's default_format (a query's own `FORMAT X`
 *   wins, an empty result is an empty body), so default_format is passed straight to chdb and the
 *   bytes go out unchanged, ending in a newline as the format writes them.
 * - Responses carry `Content-Type`, `X-ClickHouse-Format`, `X-ClickHouse-Timezone` and
 *   `X-ClickHouse-Summary` (`read_rows`, `read_bytes`, `elapsed_ns` only: chdb reports no write
 *   counters). `@clickhouse/client-web` 1.23 reads none of them; it only exposes them as headers.
 * - Errors: `Code: N. DB::Exception: ... (NAME) (version V)` plus a newline, the header
 *   `X-ClickHouse-Exception-Code: N`, and the HTTP status a server picks for that exception (its
 *   exceptionCodeToHTTPStatus: e.g. 404 for UNKNOWN_TABLE, 400 for CANNOT_PARSE_ESCAPE_SEQUENCE,
 *   500 for most others). client-web turns any of them into a ClickHouseError with `code` 'N'.
 * - Refused as a server refuses them: several statements in one request (chdb alone would run them
 *   all), an empty query, and modifying queries sent with GET (approximated from the first keyword).
 *
 * NOT emulated:
 * - Sessions: `session_id` is ignored. Everything runs in ONE chdb session whose state outlives the
 *   request: the database is re-selected and URL settings are put back after each request, but a
 *   `SET` sent as a query, query parameters (they cannot be unset), temporary tables and so on persist,
 *   where a server without `session_id` forgets them.
 * - Concurrency: requests run one at a time, in arrival order (the session has one current database).
 *   A query is not cancelled when its client goes away.
 * - Async inserts (`async_insert` and `wait_for_async_insert` are ignored: inserts are synchronous).
 *   HTTP compression: a compressed request body and ClickHouse's `compress`/`decompress` are refused,
 *   `enable_http_compression` is ignored and responses are never compressed. Multipart query
 *   parameters (refused). Progress headers and streaming: the whole result is buffered and sent at
 *   once, so there are no mid-stream exceptions. Binary request bodies: the body reaches chdb as a
 *   string, so it must be UTF-8 without NUL bytes (RowBinary, Native or Parquet inserts are refused). `readonly` and the HTTP-transport settings
 *   (`send_progress_in_http_headers`, `wait_end_of_query`, ...) are ignored.
 * - Auth: Basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` and `user`/`password` are accepted and
 *   ignored. There is no access control at all: chdb is clickhouse-local, so `file()`, `url()` and
 *   `INTO OUTFILE` reach the whole filesystem and network as this process. Bind it to 127.0.0.1 only.
 *
 * chdb binds ONE data directory per process, so start one of these per process (a second call while one
 * runs is refused). After close() a new one may start, with any data directory.
 *
 *   tsx dev/clickhouse-current.ts --port 18124 --data .data/chdb
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Session, drainPending, type ChdbResult } from 'chdb';

export interface CurrentClickHouseOptions {
  port: number;
  host?: string;
  /** Where chdb keeps its databases; created if missing, reused across runs. */
  dataDir: string;
}

export interface CurrentClickHouse {
  url: string;
  /** The engine's `version()`, e.g. 26.7.2.1. */
  version: string;
  /** Stops the HTTP server, waits for the running query and releases the chdb session. */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_FORMAT = 'TabSeparated';

/** URL parameters of the HTTP interface itself, not settings. */
const HTTP_PARAMS = new Set([
  'query', 'database', 'default_format', 'query_id', 'user', 'password', 'quota_key', 'role',
  'session_id', 'session_timeout', 'session_check', 'compress', 'decompress', 'buffer_size',
  'wait_end_of_query', 'client_protocol_version',
]);

/** Settings that only shape the HTTP transport or are not safe to flip on the shared session. */
const IGNORED_SETTINGS = new Set([
  'enable_http_compression', 'http_zlib_compression_level', 'http_native_compression_disable_checksumming_on_decompress',
  'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'http_response_buffer_size',
  'http_wait_end_of_query', 'add_http_cors_header', 'cancel_http_readonly_queries_on_client_close',
  // `SET readonly = 1` could not be undone on the session (a readonly session refuses to change it back).
  'readonly',
  'async_insert', 'wait_for_async_insert', 'wait_for_async_insert_timeout', 'async_insert_deduplicate',
]);

/** Statements a server lets through GET, which implies readonly = 2. */
const READ_ONLY_STATEMENTS = new Set(['SELECT', 'WITH', 'SHOW', 'DESC', 'DESCRIBE', 'EXISTS', 'EXPLAIN', 'SET', 'USE', '(']);
/** Statements that produce a result in the output format (the others answer with an empty body). */
const OUTPUT_STATEMENTS = new Set(['SELECT', 'WITH', 'SHOW', 'DESC', 'DESCRIBE', 'EXISTS', 'EXPLAIN', 'CHECK', '(']);

/** ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by exception name. */
const STATUS_BY_EXCEPTION: Record<string, number> = {
  REQUIRED_PASSWORD: 401,
  ...Object.fromEntries(
    ['UNKNOWN_USER', 'WRONG_PASSWORD', 'AUTHENTICATION_FAILED', 'SET_NON_GRANTED_ROLE', 'ACCESS_DENIED'].map((n) => [n, 403]),
  ),
  ...Object.fromEntries(
    [
      'BAD_ARGUMENTS', 'CANNOT_COMPILE_REGEXP', 'CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE',
      'CANNOT_PARSE_QUOTED_STRING', 'CANNOT_PARSE_DATE', 'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER',
      'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_PARSE_IPV4', 'CANNOT_PARSE_IPV6',
      'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'CANNOT_PARSE_UUID', 'DUPLICATE_COLUMN', 'ILLEGAL_COLUMN',
      'UNKNOWN_ELEMENT_IN_AST', 'UNKNOWN_TYPE_OF_AST_NODE', 'THERE_IS_NO_COLUMN', 'TOO_DEEP_AST', 'TOO_BIG_AST',
      'UNEXPECTED_AST_STRUCTURE', 'SYNTAX_ERROR', 'INCORRECT_DATA', 'TYPE_MISMATCH', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
    ].map((n) => [n, 400]),
  ),
  ...Object.fromEntries(
    [
      'UNKNOWN_TABLE', 'UNKNOWN_FUNCTION', 'UNKNOWN_IDENTIFIER', 'UNKNOWN_TYPE', 'UNKNOWN_STORAGE', 'UNKNOWN_DATABASE',
      'UNKNOWN_SETTING', 'UNKNOWN_DIRECTION_OF_SORTING', 'UNKNOWN_AGGREGATE_FUNCTION', 'UNKNOWN_FORMAT',
      'UNKNOWN_DATABASE_ENGINE', 'UNKNOWN_TYPE_OF_QUERY', 'UNKNOWN_ROLE',
    ].map((n) => [n, 404]),
  ),
  QUERY_IS_TOO_LARGE: 413,
  NOT_IMPLEMENTED: 501,
  SOCKET_TIMEOUT: 503,
  CANNOT_OPEN_FILE: 503,
  CANNOT_SCHEDULE_TASK: 503,
  HTTP_LENGTH_REQUIRED: 411,
  TIMEOUT_EXCEEDED: 408,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/** A ClickHouse exception, as text that starts with `Code: N.` and ends with `(NAME)`. */
class ClickHouseException extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    readonly text: string,
  ) {
    super(text);
  }

  static of(code: number, type: string, message: string): ClickHouseException {
    return new ClickHouseException(code, type, `Code: ${code}. DB::Exception: ${message}. (${type})`);
  }
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** chdb's error, shaped like a server's: no `Query failed: ` prefix, no exception repeated inside itself. */
function fromEngine(err: unknown): ClickHouseException {
  let text = errorMessage(err).replace(/^Query failed: /, '').trim();
  // e.g. "Code: 73. DB::Exception: Code: 73. DB::Exception: Unknown format X. (UNKNOWN_FORMAT) (version v). (UNKNOWN_FORMAT)"
  for (;;) {
    const nested = /^Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: .*) \(version [^)]*\)\. \([A-Z0-9_]+\)$/s.exec(text);
    if (!nested?.[2]) break;
    text = nested[2];
  }
  text = text.replace(/ \(version [^)]*\)$/, '');
  const code = /^Code: (\d+)\./.exec(text)?.[1];
  const type = /\(([A-Z0-9_]+)\)$/.exec(text)?.[1];
  if (code === undefined) return ClickHouseException.of(1001, 'STD_EXCEPTION', text);
  return new ClickHouseException(Number(code), type ?? 'UNKNOWN_EXCEPTION', text);
}

interface SqlShape {
  /** No statement at all: only whitespace and comments. */
  empty: boolean;
  /** The first keyword, upper-cased ('(' for a parenthesised query). */
  firstKeyword: string;
  /** The query's own output FORMAT clause (never set for INSERT, whose FORMAT names the input). */
  format: string | undefined;
  /** Offset of a `;` that is followed by another statement. */
  secondStatementAt: number | undefined;
}

/**
 * Just enough of ClickHouse's lexer to see statement boundaries, the first keyword and a trailing
 * FORMAT clause: strings, quoted identifiers, heredocs and comments are skipped, and for INSERT the
 * scan stops where the inline data begins (after `FORMAT <name>` or at `VALUES`).
 */
function scanSql(sql: string): SqlShape {
  const shape: SqlShape = { empty: true, firstKeyword: '', format: undefined, secondStatementAt: undefined };
  let i = 0;
  let depth = 0;
  let semicolonAt: number | undefined;
  // FORMAT seen, its name next; then the name may only be followed by SETTINGS (or the end).
  let formatPending = false;
  let afterFormat: 'none' | 'name' | 'settings' = 'none';
  let previous = '';
  const skipQuoted = (quote: string): void => {
    i++;
    while (i < sql.length) {
      const c = sql[i];
      if (c === '\\') i += 2;
      else if (c === quote && sql[i + 1] === quote) i += 2;
      else if (c === quote) return void i++;
      else i++;
    }
  };
  while (i < sql.length) {
    const c = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ((c === '-' && next === '-') || (c === '#' && (next === ' ' || next === '!'))) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      let nesting = 0;
      while (i < sql.length) {
        if (sql.startsWith('/*', i)) {
          nesting++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          i += 2;
          if (--nesting === 0) break;
        } else i++;
      }
      continue;
    }
    if (semicolonAt !== undefined) {
      if (c === ';') {
        i++;
        continue;
      }
      shape.secondStatementAt = semicolonAt;
      return shape;
    }
    if (c === ';') {
      semicolonAt = i++;
      continue;
    }
    shape.empty = false;
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i, i + 256))?.[0];
    if (word !== undefined) {
      const upper = word.toUpperCase();
      if (shape.firstKeyword === '') shape.firstKeyword = upper;
      const insert = shape.firstKeyword === 'INSERT';
      i += word.length;
      if (formatPending && upper !== 'FORMAT') {
        formatPending = false;
        if (insert) return shape;
        shape.format = word;
        afterFormat = 'name';
      } else {
        if (afterFormat === 'name') {
          afterFormat = upper === 'SETTINGS' ? 'settings' : 'none';
          if (afterFormat === 'none') shape.format = undefined;
        }
        // Not `t.format` nor `AS format`: a column or alias called format.
        if (depth === 0 && upper === 'FORMAT' && previous !== '.' && previous.toUpperCase() !== 'AS') formatPending = true;
        else if (insert && depth === 0 && upper === 'VALUES') return shape;
      }
      previous = word;
      continue;
    }
    formatPending = false;
    if (afterFormat === 'name') {
      afterFormat = 'none';
      shape.format = undefined;
    }
    if (shape.firstKeyword === '') shape.firstKeyword = c === '(' ? '(' : c;
    if (c === "'" || c === '"' || c === '`') {
      skipQuoted(c);
      previous = c;
      continue;
    }
    const heredoc = c === '$' ? /^\$[A-Za-z0-9_]*\$/.exec(sql.slice(i, i + 256))?.[0] : undefined;
    if (heredoc !== undefined) {
      const end = sql.indexOf(heredoc, i + heredoc.length);
      i = end === -1 ? sql.length : end + heredoc.length;
      previous = heredoc;
      continue;
    }
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
    previous = c;
    i++;
  }
  return shape;
}

/** The Content-Type a server sends for an output format (best effort for the common ones). */
function contentTypeFor(format: string): string {
  const f = format.toLowerCase();
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f.startsWith('csv')) return `text/csv; charset=UTF-8; header=${f.includes('withnames') ? 'present' : 'absent'}`;
  if (['jsoneachrow', 'jsonlines', 'ndjson', 'jsonstringseachrow', 'jsoneachrowwithprogress', 'jsonstringseachrowwithprogress'].includes(f)) {
    return 'application/x-ndjson; charset=UTF-8';
  }
  if (['json', 'jsonstrings', 'jsoncompact', 'jsoncompactstrings', 'jsoncolumns', 'jsoncompactcolumns', 'jsoncolumnswithmetadata'].includes(f)) {
    return 'application/json; charset=UTF-8';
  }
  if (f === 'xml') return 'application/xml; charset=UTF-8';
  if (/^(native|rowbinary|parquet|arrow|orc|avro|msgpack|protobuf|capnproto|bson|npy)/.test(f)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

/** A ClickHouse string literal. */
const literal = (value: string): string =>
  `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0')}'`;

interface Request {
  sql: string;
  shape: SqlShape;
  database: string;
  defaultFormat: string;
  /** Settings and `param_` query parameters, in URL order. */
  settings: Map<string, string>;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const bad = (message: string): ClickHouseException => ClickHouseException.of(36, 'BAD_ARGUMENTS', message);

function parseRequest(url: URL, headers: IncomingHttpHeaders, method: string, body: Buffer): Request {
  const params = url.searchParams;
  const encoding = header(headers, 'content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') {
    throw bad(`Content-Encoding ${encoding}: this local stand-in does not emulate HTTP compression`);
  }
  if (/^multipart\//i.test(header(headers, 'content-type') ?? '')) {
    throw bad('multipart requests (query parameters in the body) are not emulated by this local stand-in');
  }
  for (const flag of ['compress', 'decompress']) {
    if ((params.get(flag) ?? '0') !== '0') throw bad(`${flag}=1 (ClickHouse's native compression) is not emulated by this local stand-in`);
  }
  let text = '';
  if (body.length > 0) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch {
      throw bad('the request body is not valid UTF-8; this local stand-in hands the body to chdb as text, so binary formats are not supported');
    }
    if (text.includes('\0')) throw bad('the request body contains a NUL byte; binary formats are not supported by this local stand-in');
  }
  const query = params.get('query');
  const sql = query !== null && text !== '' ? `${query}\n${text}` : (query ?? text);
  const shape = scanSql(sql);
  if (shape.empty) throw ClickHouseException.of(62, 'SYNTAX_ERROR', 'Empty query');
  if (shape.secondStatementAt !== undefined) {
    const at = shape.secondStatementAt;
    throw ClickHouseException.of(
      62,
      'SYNTAX_ERROR',
      `Syntax error (Multi-statements are not allowed): failed at position ${at + 1} (;): ${sql.slice(at, at + 60)}`,
    );
  }
  if (method !== 'POST' && !READ_ONLY_STATEMENTS.has(shape.firstKeyword)) {
    throw ClickHouseException.of(
      164,
      'READONLY',
      'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries',
    );
  }

  const database = params.get('database') || header(headers, 'x-clickhouse-database') || 'default';
  if (!NAME.test(database)) throw bad(`database ${JSON.stringify(database)}: this local stand-in only accepts names matching ${NAME}`);
  const defaultFormat = params.get('default_format') || header(headers, 'x-clickhouse-format') || DEFAULT_FORMAT;
  if (!NAME.test(defaultFormat)) throw ClickHouseException.of(73, 'UNKNOWN_FORMAT', `Unknown format ${defaultFormat}`);

  const settings = new Map<string, string>();
  for (const [name, value] of params) {
    if (HTTP_PARAMS.has(name) || IGNORED_SETTINGS.has(name)) continue;
    if (!NAME.test(name)) throw ClickHouseException.of(115, 'UNKNOWN_SETTING', `Unknown setting '${name}'`);
    settings.set(name, value);
  }
  return { sql, shape, database, defaultFormat, settings };
}

/** Runs tasks one after another, in the order they were queued. */
class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

class Engine {
  private readonly queue = new SerialQueue();
  private currentDatabase: string | undefined;

  constructor(private readonly session: Session) {}

  private exec(sql: string): Promise<ChdbResult> {
    return this.session.queryAsync(sql, { format: DEFAULT_FORMAT });
  }

  /** Runs one request's query on the session with its database and settings, then puts the settings back. */
  run(request: Request): Promise<ChdbResult> {
    return this.queue.run(async () => {
      try {
        if (this.currentDatabase !== request.database) {
          await this.exec(`USE ${request.database}`);
          this.currentDatabase = request.database;
        }
      } catch (err) {
        this.currentDatabase = undefined;
        throw fromEngine(err);
      }
      const applied: string[] = [];
      try {
        for (const [name, value] of request.settings) {
          await this.exec(`SET ${name} = ${literal(value)}`);
          // Query parameters cannot be unset, only overwritten; settings go back to their defaults below.
          if (!name.startsWith('param_')) applied.push(name);
        }
        return await this.session.queryAsync(request.sql, { format: request.defaultFormat });
      } catch (err) {
        throw fromEngine(err);
      } finally {
        // A server without session_id forgets `USE x`; select the request's database again next time.
        if (request.shape.firstKeyword === 'USE') this.currentDatabase = undefined;
        for (const name of applied) {
          await this.exec(`SET ${name} = DEFAULT`).catch((err: unknown) => {
            console.error(`clickhouse-current: could not reset setting ${name}: ${errorMessage(err)}`);
          });
        }
      }
    });
  }

  /** Resolves once every queued request has finished. */
  idle(): Promise<void> {
    return this.queue.run(async () => undefined);
  }
}

interface ServerInfo {
  version: string;
  timezone: string;
  displayName: string;
}

function sendFailure(res: ServerResponse, err: ClickHouseException, queryId: string, info: ServerInfo): void {
  res
    .writeHead(STATUS_BY_EXCEPTION[err.type] ?? 500, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Exception-Code': String(err.code),
      'X-ClickHouse-Server-Display-Name': info.displayName,
      'X-ClickHouse-Timezone': info.timezone,
    })
    .end(`${err.text} (version ${info.version})\n`);
}

function sendResult(res: ServerResponse, request: Request, result: ChdbResult, queryId: string, info: ServerInfo): void {
  const format = request.shape.format ?? request.defaultFormat;
  const hasOutput = request.shape.format !== undefined || OUTPUT_STATEMENTS.has(request.shape.firstKeyword);
  const bytes = result.bytes();
  res
    .writeHead(200, {
      'Content-Type': hasOutput ? contentTypeFor(format) : 'text/plain; charset=UTF-8',
      ...(hasOutput ? { 'X-ClickHouse-Format': format } : {}),
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Server-Display-Name': info.displayName,
      'X-ClickHouse-Timezone': info.timezone,
      'X-ClickHouse-Summary': JSON.stringify({
        read_rows: String(result.rowsRead),
        read_bytes: String(result.bytesRead),
        elapsed_ns: String(Math.round(result.elapsed * 1e9)),
      }),
    })
    .end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=UTF-8'): void {
  res.writeHead(status, { 'Content-Type': contentType }).end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function handle(req: IncomingMessage, res: ServerResponse, engine: Engine, info: ServerInfo): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  const queryId = url.searchParams.get('query_id') || randomUUID();
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
    return sendText(res, 405, `Method ${method} is not supported; use GET or POST.\n`);
  }
  if (url.pathname === '/ping') return sendText(res, 200, 'Ok.\n');
  if (url.pathname !== '/') {
    return sendText(res, 404, `There is no handle ${url.pathname}\n\nUse / or /ping. This local stand-in serves nothing else.\n`);
  }
  const body = method === 'POST' ? await readBody(req) : Buffer.alloc(0);
  // A server's http_server_default_response.
  if (method !== 'POST' && !url.searchParams.has('query')) return sendText(res, 200, 'Ok.\n', 'text/html; charset=UTF-8');
  let request: Request;
  try {
    request = parseRequest(url, req.headers, method, body);
  } catch (err) {
    return sendFailure(res, err instanceof ClickHouseException ? err : fromEngine(err), queryId, info);
  }
  try {
    sendResult(res, request, await engine.run(request), queryId, info);
  } catch (err) {
    sendFailure(res, err instanceof ClickHouseException ? err : fromEngine(err), queryId, info);
  }
}

let running = false;

export async function startCurrentClickHouse(options: CurrentClickHouseOptions): Promise<CurrentClickHouse> {
  if (running) throw new Error('clickhouse-current: already running in this process (chdb binds one data directory per process)');
  running = true;
  const host = options.host ?? '127.0.0.1';
  let session: Session | undefined;
  const release = async (): Promise<void> => {
    session?.close();
    await drainPending();
    running = false;
  };
  try {
    const dataDir = resolve(options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    session = new Session(dataDir);
    const [version = '', timezone = 'UTC'] = (await session.queryAsync('SELECT version(), timezone()', { format: DEFAULT_FORMAT }))
      .text()
      .trim()
      .split('\t');
    // chdb starts with clickhouse-local's settings; put back a server's defaults where they change
    // which SQL is accepted (implicit_select would run `1 + 1` as a query).
    await session.queryAsync('SET implicit_select = 0, allow_introspection_functions = 0', { format: DEFAULT_FORMAT });
    const engine = new Engine(session);
    const info: ServerInfo = { version, timezone, displayName: hostname() };

    const server = createServer((req, res) => {
      handle(req, res, engine, info).catch((err: unknown) => {
        if (!res.headersSent) sendText(res, 500, `clickhouse-current: ${errorMessage(err)}\n`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    const { port } = server.address() as AddressInfo;
    const urlHost = host.includes(':') ? `[${host}]` : host;

    let closing: Promise<void> | undefined;
    return {
      url: `http://${urlHost}:${port}`,
      version,
      close() {
        closing ??= (async () => {
          // Clients keep connections alive, which would otherwise hold server.close() open.
          const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
          server.closeAllConnections();
          await closed;
          // Closing the session under a running query would abort the engine for the whole process.
          await engine.idle();
          await release();
        })();
        return closing;
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '18124' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string', default: '.data/chdb' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || !values.data) {
    console.error('usage: tsx dev/clickhouse-current.ts [--port 18124] [--host 127.0.0.1] [--data .data/chdb]');
    process.exit(2);
  }
  const ch = await startCurrentClickHouse({ port, host: values.host, dataDir: values.data }).catch((err: unknown) => {
    console.error(`clickhouse-current: ${errorMessage(err)}`);
    process.exit(1);
  });
  console.log(`clickhouse-current: ClickHouse ${ch.version} (chdb) listening on ${ch.url}, data in ${resolve(values.data)}`);
  const shutdown = (): void => {
    ch.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`clickhouse-current: shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
