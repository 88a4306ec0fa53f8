import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Redis, type ChainableCommander } from "ioredis";

export interface UpstashRestOptions {
  port: number;
  host?: string;
  redisUrl: string;
  token: string;
}

export interface UpstashRest {
  url: string;
  close(): Promise<void>;
}

type Json = string | number | null | Json[];
type Outcome = { result: Json } | { error: string };
type Command = [string, ...string[]];

class BadRequest extends Error {}

const isReplyError = (err: unknown): err is Error => err instanceof Error && err.name === "ReplyError";
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function toJson(reply: unknown, base64: boolean): Json {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, base64));
  const bytes = Buffer.isBuffer(reply) ? reply : Buffer.from(String(reply));
  return base64 ? bytes.toString("base64") : bytes.toString("utf8");
}

// Upstash leaves the top-level status reply OK unencoded; @upstash/redis special-cases it at the top
// level only, so an "OK" inside an array must still be encoded. ioredis cannot tell a status reply from
// a bulk "OK", which the client decodes identically either way.
function encodeResult(reply: unknown, base64: boolean): Json {
  if (base64 && Buffer.isBuffer(reply) && reply.toString("latin1") === "OK") return "OK";
  return toJson(reply, base64);
}

function parseCommand(value: unknown): Command {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest("ERR command must be a non-empty JSON array, e.g. [\"GET\",\"key\"]");
  }
  const args = value.map((arg: unknown) => {
    if (typeof arg === "string") return arg;
    if (typeof arg === "number" || typeof arg === "boolean") return String(arg);
    throw new BadRequest(`ERR command arguments must be strings or numbers, got ${JSON.stringify(arg)}`);
  });
  // Uppercase so ioredis applies none of its lowercase-keyed reply transformers (e.g. HGETALL -> object).
  const [name, ...rest] = args as Command;
  return [name.toUpperCase(), ...rest];
}

function parseCommands(value: unknown): Command[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every(Array.isArray)) {
    throw new BadRequest("ERR body must be a non-empty JSON array of commands, e.g. [[\"GET\",\"key\"]]");
  }
  return value.map(parseCommand);
}

async function runBatch(batch: ChainableCommander, commands: Command[], base64: boolean): Promise<Outcome[]> {
  for (const [name, ...args] of commands) batch.callBuffer(name, ...args);
  const replies = (await batch.exec()) ?? [];
  return replies.map(([err, reply]) => (err ? { error: err.message } : { result: encodeResult(reply, base64) }));
}

function isAuthorized(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? "");
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: Outcome | Outcome[]): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse, redis: Redis, token: string): Promise<void> {
  if (!isAuthorized(req.headers.authorization, token)) return send(res, 401, { error: "Unauthorized" });
  if (req.method !== "POST") return send(res, 405, { error: "Only POST is supported" });
  const path = new URL(req.url ?? "/", "http://localhost").pathname.replace(/\/+$/, "") || "/";
  const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    return send(res, 400, { error: "ERR request body is not valid JSON" });
  }
  try {
    if (path === "/") {
      const [name, ...args] = parseCommand(body);
      return send(res, 200, { result: encodeResult(await redis.callBuffer(name, ...args), base64) });
    }
    if (path === "/pipeline") return send(res, 200, await runBatch(redis.pipeline(), parseCommands(body), base64));
    if (path === "/multi-exec") return send(res, 200, await runBatch(redis.multi(), parseCommands(body), base64));
    return send(res, 404, { error: `Unsupported path ${path}; use /, /pipeline or /multi-exec` });
  } catch (err) {
    if (err instanceof BadRequest) return send(res, 400, { error: err.message });
    // EXECABORT only says "previous errors"; ioredis keeps the ones that caused it.
    const causes = (err as { previousErrors?: unknown[] }).previousErrors ?? [];
    const detail = causes.length > 0 ? ` Caused by: ${causes.map(errorMessage).join("; ")}` : "";
    return send(res, isReplyError(err) ? 400 : 500, { error: errorMessage(err) + detail });
  }
}

export async function startUpstashRest(opts: UpstashRestOptions): Promise<UpstashRest> {
  const host = opts.host ?? "127.0.0.1";
  const redis = new Redis(opts.redisUrl, { lazyConnect: true });
  let lastRedisError = "";
  let connected = false;
  // ioredis retries forever; say so once per distinct error rather than on every attempt.
  redis.on("error", (err: Error) => {
    if (connected && err.message !== lastRedisError) console.error(`upstash-rest: redis error: ${err.message}`);
    lastRedisError = err.message;
  });
  redis.on("ready", () => (lastRedisError = ""));
  try {
    await redis.connect();
    connected = true;
  } catch (err) {
    redis.disconnect();
    throw new Error(`upstash-rest: cannot connect to Redis: ${lastRedisError || errorMessage(err)}`);
  }

  const server = createServer((req, res) => {
    handle(req, res, redis, opts.token).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: errorMessage(err) });
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, host, resolve);
    });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    async close() {
      // The client keeps connections alive, which would otherwise hold server.close() open.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      // QUIT would wait in the offline queue while Redis is unreachable.
      if (redis.status === "ready") await redis.quit();
      else redis.disconnect();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8079" },
      host: { type: "string", default: "127.0.0.1" },
      redis: { type: "string", default: "redis://127.0.0.1:6379" },
      token: { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!values.token || !Number.isInteger(port)) {
    console.error("usage: tsx dev/upstash-rest.ts --token T [--port 8079] [--host 127.0.0.1] [--redis redis://127.0.0.1:6379]");
    process.exit(2);
  }
  const rest = await startUpstashRest({ port, host: values.host, redisUrl: values.redis, token: values.token }).catch(
    (err: unknown) => {
      console.error(errorMessage(err));
      process.exit(1);
    },
  );
  console.log(`upstash-rest listening on ${rest.url}`);
  const shutdown = (): void => {
    rest.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`upstash-rest: shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
