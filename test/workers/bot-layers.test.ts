/**
 * Bot layers 3 (burst per session) and 4 (IP rate) in the events consumer, with the real queue
 * handler, real Redis (through the Upstash stand-in), real D1 settings and real ClickHouse.
 * Every test uses a workspace of its own, so its Redis counters are its own.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uint64 } from '../../lib/event-queries';
import { sql } from '../../lib/sql';
import type { CollectedEvent } from '../../schema/event';
import { collected, deliver, env, selectRows } from './pipeline-support';
import { call, createTestWorkspace, OPERATOR } from './support';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

function browserEvent(workspaceId: string, overrides: Partial<CollectedEvent>): CollectedEvent {
  return collected(workspaceId, { source: 'browser', ip: '203.0.113.10', userAgent: BROWSER_UA, sessionId: null, ...overrides });
}

const rowSchema = z.object({ message_id: z.string(), is_bot: uint64, bot_reason: z.string() });

async function verdicts(workspaceId: string): Promise<Map<string, string>> {
  const rows = await selectRows(sql`SELECT message_id, is_bot, bot_reason FROM events FINAL WHERE workspace_id = ${workspaceId}`, rowSchema);
  return new Map(rows.map((row) => [row.message_id, row.is_bot === 1 ? row.bot_reason : '']));
}

/** Delivers `events` in consumer batches of `size`, in order. */
async function deliverInBatches(events: CollectedEvent[], size = 100): Promise<void> {
  for (let start = 0; start < events.length; start += size) {
    const result = await deliver(events.slice(start, start + size));
    expect(result.retryMessages).toEqual([]);
  }
}

async function patchSettings(workspaceId: string, patch: unknown): Promise<void> {
  const response = await call(`/admin/workspaces/${workspaceId}/settings`, { method: 'PATCH', headers: OPERATOR, json: patch });
  expect(response.status).toBe(200);
}

/** 1,200 browser events from one IP within one minute: 24 requests of 50, 2 s apart (one receivedAt per request). */
function ipFlood(workspaceId: string, ip: string, startMs: number, prefix: string): CollectedEvent[] {
  return Array.from({ length: 1200 }, (_, index) => {
    const receivedAt = new Date(startMs + Math.floor(index / 50) * 2000).toISOString();
    return browserEvent(workspaceId, { messageId: `${prefix}-${String(index).padStart(4, '0')}`, ip, receivedAt, timestamp: receivedAt });
  });
}

describe('layer 4: IP rate', () => {
  it('1,200 browser events from one IP within a minute: the first 1,000 unflagged, the rest ip_rate; another IP and server traffic unaffected', async () => {
    const ws = await createTestWorkspace('ip rate');
    const start = Date.now() - 55_000;
    const flood = ipFlood(ws.workspaceId, '203.0.113.10', start, 'flood');
    const otherIp = Array.from({ length: 30 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `other-${index}`, ip: '198.51.100.7', receivedAt: new Date(start + index * 1500).toISOString() }));
    const server = Array.from({ length: 1200 }, (_, index) => collected(ws.workspaceId, { messageId: `server-${index}`, source: 'server', ip: '192.0.2.1', receivedAt: new Date(start + Math.floor(index / 50) * 2000).toISOString() }));
    // Interleaved as they would arrive: the other IP and the backend send while the flood goes on.
    const mixed = flood.flatMap((event, index) => [event, ...(index % 40 === 0 ? [otherIp[index / 40]].filter((e): e is CollectedEvent => e !== undefined) : []), server[index]].filter((e): e is CollectedEvent => e !== undefined));
    await deliverInBatches(mixed);
    const stored = await verdicts(ws.workspaceId);
    const floodVerdicts = flood.map((event) => stored.get(event.messageId));
    expect(floodVerdicts.slice(0, 1000).every((reason) => reason === '')).toBe(true);
    expect(floodVerdicts.slice(1000).every((reason) => reason === 'ip_rate')).toBe(true);
    expect(otherIp.every((event) => stored.get(event.messageId) === '')).toBe(true);
    expect(server.every((event) => stored.get(event.messageId) === '')).toBe(true);
  });

  it('sandboxes the IP after it crossed: its next events are flagged although the rate dropped', async () => {
    const ws = await createTestWorkspace('ip sandbox');
    await patchSettings(ws.workspaceId, { bots: { ipRate: { eventsPerMinute: 20, cooldownSeconds: 60 } } });
    const start = Date.now() - 10_000;
    const burst = Array.from({ length: 25 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `b-${String(index).padStart(2, '0')}`, receivedAt: new Date(start + index).toISOString() }));
    await deliverInBatches(burst);
    const later = browserEvent(ws.workspaceId, { messageId: 'later', receivedAt: new Date().toISOString() });
    await deliverInBatches([later]);
    const stored = await verdicts(ws.workspaceId);
    expect(burst.map((event) => stored.get(event.messageId)).filter((reason) => reason === 'ip_rate')).toHaveLength(5);
    expect(stored.get('later')).toBe('ip_rate');
  });
});

describe('layer 3: bursts per session', () => {
  it('more than N events in 1 s flags from the N+1st (burst:1s); more than M in 10 s from the M+1st (burst:10s); a human pace never', async () => {
    const ws = await createTestWorkspace('bursts');
    // N = 10, M = 40 for this test (the defaults are bench/bursts' choice).
    await patchSettings(ws.workspaceId, { bots: { burst: { eventsPerSecond: 10, eventsPer10Seconds: 40 } } });
    const base = Date.now() - 30_000;
    const fast = Array.from({ length: 15 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `fast-${String(index).padStart(2, '0')}`, sessionId: 'sess-fast', ip: `203.0.113.${100 + index}`, timestamp: new Date(base + index * 50).toISOString() }));
    const steady = Array.from({ length: 45 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `steady-${String(index).padStart(2, '0')}`, sessionId: 'sess-steady', ip: `198.51.100.${index}`, timestamp: new Date(base + index * 200).toISOString() }));
    const human = Array.from({ length: 60 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `human-${String(index).padStart(2, '0')}`, sessionId: 'sess-human', ip: `192.0.2.${index}`, timestamp: new Date(base - 60_000 + index * 1000).toISOString() }));
    // SDK-sized batches (20 events), the sessions interleaved.
    await deliverInBatches([...fast, ...steady, ...human].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)), 20);
    const stored = await verdicts(ws.workspaceId);
    expect(fast.map((event) => stored.get(event.messageId))).toEqual([...Array<string>(10).fill(''), ...Array<string>(5).fill('burst:1s')]);
    expect(steady.slice(0, 40).every((event) => stored.get(event.messageId) === '')).toBe(true);
    expect(steady.slice(40).map((event) => stored.get(event.messageId))).toEqual(Array<string>(5).fill('burst:10s'));
    expect(human.every((event) => stored.get(event.messageId) === '')).toBe(true);
  });
});

describe('workspace settings', () => {
  it('allow-listed IPs (CIDR) and user agents are never flagged, by any layer', async () => {
    const ws = await createTestWorkspace('allow-list');
    await patchSettings(ws.workspaceId, { bots: { allowIps: ['203.0.113.0/24'], allowUserAgents: ['UptimeRobot'], ipRate: { eventsPerMinute: 10 } } });
    const start = Date.now() - 20_000;
    const office = Array.from({ length: 30 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `office-${index}`, ip: '203.0.113.77', receivedAt: new Date(start + index).toISOString() }));
    const monitor = Array.from({ length: 30 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `monitor-${index}`, ip: '198.51.100.1', userAgent: 'Mozilla/5.0 (compatible; UptimeRobot/2.0)', receivedAt: new Date(start + index).toISOString() }));
    const stranger = Array.from({ length: 30 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `stranger-${String(index).padStart(2, '0')}`, ip: '192.0.2.9', receivedAt: new Date(start + index).toISOString() }));
    await deliverInBatches([...office, ...monitor, ...stranger]);
    const stored = await verdicts(ws.workspaceId);
    expect([...office, ...monitor].every((event) => stored.get(event.messageId) === '')).toBe(true);
    expect(stranger.filter((event) => stored.get(event.messageId) === 'ip_rate')).toHaveLength(20);
  });

  it('action drop: events a layer flags are acknowledged and not stored; the rest are', async () => {
    const ws = await createTestWorkspace('drop');
    await patchSettings(ws.workspaceId, { bots: { ipRate: { eventsPerMinute: 10, action: 'drop' }, userAgent: { action: 'drop' } } });
    const start = Date.now() - 20_000;
    const events = Array.from({ length: 15 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `d-${String(index).padStart(2, '0')}`, receivedAt: new Date(start + index).toISOString() }));
    const crawler = browserEvent(ws.workspaceId, { messageId: 'crawler', ip: '192.0.2.50', bot: { flagged: true, reason: 'user_agent:googlebot' } });
    const automation = browserEvent(ws.workspaceId, { messageId: 'automation', ip: '192.0.2.51', bot: { flagged: true, reason: 'sdk_automation:webdriver' } });
    const result = await deliver([...events, crawler, automation]);
    expect(result.explicitAcks).toHaveLength(17);
    const stored = await verdicts(ws.workspaceId);
    expect([...stored.keys()].sort()).toEqual([...events.slice(0, 10).map((event) => event.messageId), 'automation'].sort());
    expect(stored.get('automation')).toBe('sdk_automation:webdriver');
  });
});

describe('failing open', () => {
  it('with Redis down, layers 3 and 4 flag nothing, every event is stored, and the batch report says so', async () => {
    const ws = await createTestWorkspace('fail open');
    await patchSettings(ws.workspaceId, { bots: { ipRate: { eventsPerMinute: 10 } } });
    const start = Date.now() - 20_000;
    const events = Array.from({ length: 30 }, (_, index) => browserEvent(ws.workspaceId, { messageId: `o-${index}`, receivedAt: new Date(start + index).toISOString() }));
    // A batch that met a Redis failure reports as a warning.
    const reports: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      reports.push(args.map(String).join(' '));
      warn(...args);
    };
    try {
      const result = await deliver(events, { env: { ...env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' } });
      expect(result.retryMessages).toEqual([]);
    } finally {
      console.warn = warn;
    }
    const stored = await verdicts(ws.workspaceId);
    expect(stored.size).toBe(30);
    expect([...stored.values()].every((reason) => reason === '')).toBe(true);
    const report = reports.map((line) => JSON.parse(line) as { msg?: string; workspaceIds?: string[]; botScreening?: unknown }).find((entry) => entry.msg === 'pipeline_batch' && entry.workspaceIds?.includes(ws.workspaceId));
    expect(report?.botScreening).toEqual({ failedOpen: 'redis_unavailable', sandboxed: 0 });
  });
});
