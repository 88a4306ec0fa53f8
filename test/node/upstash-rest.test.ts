import { randomUUID } from "node:crypto";
import { Redis as UpstashRedis } from "@upstash/redis";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startUpstashRest, type UpstashRest } from "../../dev/upstash-rest";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const TOKEN = `test-token-${randomUUID()}`;
const PREFIX = `upstash-rest-test:${randomUUID()}:`;

let rest: UpstashRest;
let direct: IORedis;

beforeAll(async () => {
  rest = await startUpstashRest({ port: 0, redisUrl: REDIS_URL, token: TOKEN });
  direct = new IORedis(REDIS_URL);
});

afterAll(async () => {
  const keys = await direct.keys(`${PREFIX}*`);
  if (keys.length > 0) await direct.del(...keys);
  direct.disconnect();
  await rest?.close();
});

// retry: false so an unreachable stand-in fails at once instead of after five network retries.
function client(options: { enableAutoPipelining?: boolean; responseEncoding?: false; token?: string } = {}) {
  return new UpstashRedis({ url: rest.url, token: options.token ?? TOKEN, retry: false, ...options });
}

async function raw(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${rest.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json", ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

const TRICKY_TEXT =
  Array.from({ length: 256 }, (_, code) => String.fromCharCode(code)).join("") +
  "\u0000 NUL\r\nCRLF\n\ttab \"quotes\" \\ é ß 中文 עברית 🚀👩‍👩‍👧 \uFFFD end";

const variants = [
  { name: "auto-pipelined client (POST /pipeline, base64)", options: {} },
  { name: "single-command client (POST /, base64)", options: { enableAutoPipelining: false } },
  { name: "single-command client without base64", options: { enableAutoPipelining: false, responseEncoding: false } },
] as const;

describe.each(variants)("$name", ({ name, options }) => {
  const redis = () => client(options);
  const key = (suffix: string) => `${PREFIX}${name}:${suffix}`;

  it("sets and gets strings", async () => {
    expect(await redis().set(key("greeting"), "hello world")).toBe("OK");
    expect(await redis().get(key("greeting"))).toBe("hello world");
  });

  it("round-trips every byte value, unicode, emoji, NUL and newlines", async () => {
    await redis().set(key("tricky"), TRICKY_TEXT);
    expect(await redis().get(key("tricky"))).toBe(TRICKY_TEXT);
    expect(await direct.getBuffer(key("tricky"))).toEqual(Buffer.from(TRICKY_TEXT, "utf8"));
  });

  it("keeps a stored value of exactly OK intact", async () => {
    await redis().set(key("ok"), "OK");
    expect(await redis().get(key("ok"))).toBe("OK");
    expect(await redis().mget(key("ok"), key("ok"))).toEqual(["OK", "OK"]);
  });

  it("returns integer and float replies as numbers", async () => {
    expect(await redis().incr(key("counter"))).toBe(1);
    expect(await redis().incrby(key("counter"), 41)).toBe(42);
    expect(await redis().incrbyfloat(key("float"), 1.25)).toBe(1.25);
    expect(await redis().incrbyfloat(key("float"), 0.5)).toBe(1.75);
  });

  it("returns null for missing keys, also inside arrays", async () => {
    await redis().set(key("present"), "here");
    expect(await redis().get(key("missing"))).toBeNull();
    expect(await redis().hget(key("missing-hash"), "field")).toBeNull();
    expect(await redis().mget(key("present"), key("missing"))).toEqual(["here", null]);
  });

  it("rejects with the Redis error message", async () => {
    await redis().set(key("not-a-number"), "abc");
    await expect(redis().incr(key("not-a-number"))).rejects.toThrow("ERR value is not an integer or out of range");
    expect(await redis().get(key("not-a-number"))).toBe("abc");
  });

  it("honours SET NX EX", async () => {
    expect(await redis().set(key("lock"), "first", { nx: true, ex: 60 })).toBe("OK");
    expect(await redis().set(key("lock"), "second", { nx: true, ex: 60 })).toBeNull();
    expect(await redis().get(key("lock"))).toBe("first");
    const ttl = await redis().ttl(key("lock"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis().set(key("absent"), "x", { xx: true })).toBeNull();
  });

  it("deserializes stored JSON objects", async () => {
    const event = { id: "evt_1", props: { plan: "pro", seats: 3 }, tags: ["a", "b"], deleted: null };
    await redis().set(key("json"), event);
    expect(await redis().get(key("json"))).toEqual(event);
    expect(JSON.parse((await direct.get(key("json"))) ?? "")).toEqual(event);
  });

  it("writes and reads hashes", async () => {
    expect(await redis().hset(key("hash"), { name: "Ada", visits: 3, meta: { beta: true } })).toBe(3);
    expect(await redis().hgetall(key("hash"))).toEqual({ name: "Ada", visits: 3, meta: { beta: true } });
    expect(await redis().hget(key("hash"), "name")).toBe("Ada");
    expect(await redis().hgetall(key("missing-hash"))).toBeNull();
  });

  it("appends to streams and reads nested XRANGE replies", async () => {
    const stream = key("stream");
    const firstId = await redis().xadd(stream, "*", { event: "pageview", path: "/pricing" });
    const secondId = await redis().xadd(stream, "*", { event: "signup", payload: TRICKY_TEXT });
    expect(firstId).toMatch(/^\d+-\d+$/);
    expect(await redis().xlen(stream)).toBe(2);
    expect(await redis().xrange(stream, "-", "+")).toEqual({
      [firstId]: { event: "pageview", path: "/pricing" },
      [secondId]: { event: "signup", payload: TRICKY_TEXT },
    });
  });

  it("trims streams with MAXLEN ~ and MAXLEN =", async () => {
    const approx = key("stream-approx");
    // Approximate trimming only drops whole radix-tree nodes (100 entries by default), so it needs more than one.
    for (let i = 0; i < 250; i++) {
      await redis().xadd(approx, "*", { i }, { trim: { type: "MAXLEN", comparison: "~", threshold: 10 } });
    }
    const approxLength = await redis().xlen(approx);
    expect(approxLength).toBeGreaterThanOrEqual(10);
    expect(approxLength).toBeLessThan(250);

    const exact = key("stream-exact");
    for (let i = 0; i < 15; i++) {
      await redis().xadd(exact, "*", { i }, { trim: { type: "MAXLEN", comparison: "=", threshold: 10 } });
    }
    expect(await redis().xlen(exact)).toBe(10);
    expect(Object.values(await redis().xrange(exact, "-", "+")).map((entry) => entry.i)).toEqual([
      5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    ]);
  });
});

describe("pipelines and transactions", () => {
  const key = (suffix: string) => `${PREFIX}batch:${suffix}`;

  it("runs a pipeline and returns results in order", async () => {
    const results = await client()
      .pipeline()
      .set(key("p"), "v")
      .incr(key("p-count"))
      .get(key("p"))
      .get(key("p-missing"))
      .exec();
    expect(results).toEqual(["OK", 1, "v", null]);
  });

  it("reports a failing pipeline command by position while the rest still run", async () => {
    await direct.set(key("p-text"), "abc");
    const pipeline = () => client().pipeline().incr(key("p-text")).set(key("p-after"), "ran");
    await expect(pipeline().exec()).rejects.toThrow("Command 1 [ incr ] failed: ERR value is not an integer");
    const kept = await pipeline().exec({ keepErrors: true });
    expect(kept[0]?.error).toBe("ERR value is not an integer or out of range");
    expect(kept[1]).toEqual({ error: undefined, result: "OK" });
    expect(await direct.get(key("p-after"))).toBe("ran");
  });

  it("runs MULTI/EXEC through redis.multi()", async () => {
    const results = await client().multi().set(key("m"), "1").incr(key("m")).incr(key("m")).get(key("m")).exec();
    expect(results).toEqual(["OK", 2, 3, 3]);
  });

  it("discards the whole transaction when a command cannot be queued", async () => {
    const { status, body } = await raw(
      "/multi-exec",
      JSON.stringify([["SET", key("m-aborted"), "x"], ["NOSUCHCOMMAND"]]),
    );
    expect(status).toBe(400);
    expect(body).toEqual({ error: expect.stringContaining("EXECABORT") });
    expect(JSON.stringify(body)).toContain("unknown command 'NOSUCHCOMMAND'");
    expect(await direct.exists(key("m-aborted"))).toBe(0);
  });
});

describe("authentication", () => {
  it("rejects a client with the wrong token", async () => {
    await expect(client({ token: "wrong" }).get(`${PREFIX}auth`)).rejects.toThrow("Unauthorized");
    await expect(client({ token: "wrong", enableAutoPipelining: false }).get(`${PREFIX}auth`)).rejects.toThrow(
      "Unauthorized",
    );
  });

  it("answers 401 for a missing or wrong bearer token", async () => {
    const missing = await fetch(rest.url, { method: "POST", body: '["PING"]' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: "Unauthorized" });
    const wrong = await raw("/", '["PING"]', { Authorization: `Bearer ${TOKEN}x` });
    expect(wrong).toEqual({ status: 401, body: { error: "Unauthorized" } });
  });
});

describe("wire format", () => {
  const key = (suffix: string) => `${PREFIX}wire:${suffix}`;
  const base64 = { "Upstash-Encoding": "base64" };

  it("sends the endpoints @upstash/redis expects", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    try {
      await client().get(key("spy"));
      await client({ enableAutoPipelining: false }).get(key("spy"));
      await client().multi().get(key("spy")).exec();
      const paths = fetchSpy.mock.calls.map(([input]) => new URL(String(input)).pathname);
      expect(paths).toEqual(["/pipeline", "/", "/multi-exec"]);
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it("base64-encodes bulk strings but leaves the OK status, numbers and nulls alone", async () => {
    expect(await raw("/", JSON.stringify(["SET", key("b64"), TRICKY_TEXT]), base64)).toEqual({
      status: 200,
      body: { result: "OK" },
    });
    expect(await raw("/", JSON.stringify(["GET", key("b64")]), base64)).toEqual({
      status: 200,
      body: { result: b64(TRICKY_TEXT) },
    });
    expect(await raw("/", JSON.stringify(["INCRBY", key("b64-n"), 5]), base64)).toEqual({
      status: 200,
      body: { result: 5 },
    });
    expect(await raw("/", JSON.stringify(["MGET", key("b64"), key("b64-missing")]), base64)).toEqual({
      status: 200,
      body: { result: [b64(TRICKY_TEXT), null] },
    });
  });

  it("returns the exact bytes of non-UTF-8 values when base64 is requested", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3]);
    await direct.set(key("bytes"), bytes);
    const { body } = await raw("/", JSON.stringify(["GET", key("bytes")]), base64);
    expect(body).toEqual({ result: bytes.toString("base64") });
  });

  it("encodes nested arrays recursively", async () => {
    const stream = key("nested");
    const id = await direct.xadd(stream, "*", "field", "välue");
    const { body } = await raw("/", JSON.stringify(["XREAD", "COUNT", 1, "STREAMS", stream, "0"]), base64);
    expect(body).toEqual({ result: [[b64(stream), [[b64(id ?? ""), [b64("field"), b64("välue")]]]]] });
    const plain = await raw("/", JSON.stringify(["XREAD", "COUNT", 1, "STREAMS", stream, "0"]));
    expect(plain.body).toEqual({ result: [[stream, [[id, ["field", "välue"]]]]] });
  });

  it("sends UTF-8 text and plain integers without the base64 header", async () => {
    await raw("/", JSON.stringify(["SADD", key("set"), "a"]));
    expect(await raw("/", JSON.stringify(["SMISMEMBER", key("set"), "a", "b"]))).toEqual({
      status: 200,
      body: { result: [1, 0] },
    });
    expect(await raw("/", JSON.stringify(["ECHO", "héllo 🚀"]))).toEqual({ status: 200, body: { result: "héllo 🚀" } });
  });

  it("answers per-command results and errors for /pipeline", async () => {
    await direct.set(key("pipe-text"), "abc");
    const { status, body } = await raw(
      "/pipeline",
      JSON.stringify([["INCR", key("pipe-text")], ["ECHO", "hi"], ["GET", key("pipe-missing")]]),
      base64,
    );
    expect(status).toBe(200);
    expect(body).toEqual([
      { error: "ERR value is not an integer or out of range" },
      { result: b64("hi") },
      { result: null },
    ]);
  });

  it("answers 400 with a Redis error for a failing single command", async () => {
    expect(await raw("/", '["NOSUCHCOMMAND"]')).toEqual({
      status: 400,
      body: { error: expect.stringContaining("ERR unknown command 'NOSUCHCOMMAND'") },
    });
  });

  it.each([
    ["malformed JSON", "/", '["GET", '],
    ["an object body", "/", '{"command":"GET"}'],
    ["an empty command", "/", "[]"],
    ["a nested object argument", "/", '["SET","k",{"a":1}]'],
    ["a pipeline of non-arrays", "/pipeline", '["GET","k"]'],
    ["an empty pipeline", "/pipeline", "[]"],
  ])("answers 400 for %s", async (_label, path, body) => {
    const response = await raw(path, body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: expect.stringMatching(/^ERR .*(JSON|array|arguments)/) });
  });
});
