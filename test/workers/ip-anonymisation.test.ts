/**
 * IP anonymisation end to end: for a workspace with anonymizeIp, no full IP of a visitor
 * (the browser's connecting IP, or the `context.ip` a server forwards, IPv4 or IPv6) reaches
 * the stored rows, the live feed or the Redis Stream mirror; each holds the /24 or /48 form.
 * A workspace without the setting keeps full IPs (so the checks can fail).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRedis } from '../../lib/redis';
import { sql } from '../../lib/sql';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { basic, call, createTestWorkspace, env, eventually } from './support';
import { selectRows } from './pipeline-support';
import { openFeed, ticketFor, type FrameReader } from './live-support';

const BROWSER_IP = '198.51.100.23';
const SERVER_IPV4 = '203.0.113.77';
const SERVER_IPV6 = '2001:db8:1234:5678:9abc::1';
const FULL_IPS = [BROWSER_IP, SERVER_IPV4, SERVER_IPV6];
const ANONYMISED = ['198.51.100.0', '203.0.113.0', '2001:db8:1234::'];

async function send(writeKey: string, label: string): Promise<void> {
  const browser = await call('/v1/collect', {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'cf-connecting-ip': BROWSER_IP, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', origin: 'https://shop.example' },
    body: JSON.stringify({ writeKey, batch: [{ type: 'page', messageId: `${label}-browser`, anonymousId: 'a1', context: { library: { name: 'monfri.js', version: '1' }, ip: BROWSER_IP } }] }),
  });
  expect(browser.status).toBe(200);
  const server = await call('/v1/batch', {
    method: 'POST',
    headers: { ...basic(writeKey), 'content-type': 'application/json' },
    json: {
      batch: [
        { type: 'track', messageId: `${label}-v4`, userId: 'u1', event: 'Server V4', context: { ip: SERVER_IPV4 } },
        { type: 'track', messageId: `${label}-v6`, userId: 'u2', event: 'Server V6', context: { ip: SERVER_IPV6 } },
      ],
    },
  });
  expect(server.status).toBe(200);
}

async function liveFrames(reader: FrameReader, count: number): Promise<string> {
  const items: unknown[] = [];
  while (items.length < count) {
    const frame = await reader.next(10_000);
    if (frame.type === 'events') items.push(...frame.items.filter((item) => item.status === 'stored'));
  }
  return JSON.stringify(items);
}

async function storedText(workspaceId: string): Promise<string> {
  const schema = z.object({ message_id: z.string(), ip: z.string(), context: z.string() });
  const rows = await eventually(() => selectRows(sql`SELECT message_id, ip, context FROM events FINAL WHERE workspace_id = ${workspaceId}`, schema), (found) => found.length >= 3, 20_000);
  expect(rows).toHaveLength(3);
  return JSON.stringify(rows);
}

async function mirrorText(workspaceId: string): Promise<string> {
  const read = async () => JSON.stringify(await createRedis(env).xrange(eventStreamKey(workspaceId), '-', '+'));
  const text = await eventually(read, (entries) => (entries.match(new RegExp(`"${STREAM_EVENT_FIELD}"`, 'g')) ?? []).length >= 3, 10_000);
  return text;
}

describe('IP anonymisation', () => {
  it.each([
    [true, ANONYMISED, FULL_IPS],
    [false, FULL_IPS, ANONYMISED],
  ])('anonymizeIp=%s: stored rows, live feed and stream mirror hold %j, never %j', async (anonymizeIp, present, absent) => {
    const ws = await createTestWorkspace(`ip ${anonymizeIp}`, { anonymizeIp });
    const { reader } = await openFeed(await ticketFor(ws.secretKey));
    await send(ws.writeKey, `ip-${anonymizeIp}`);
    const places = { stored: await storedText(ws.workspaceId), live: await liveFrames(reader, 3), mirror: await mirrorText(ws.workspaceId) };
    reader.socket.close();
    for (const [place, text] of Object.entries(places)) {
      for (const ip of present) expect(text.includes(ip), `${place} has ${ip}`).toBe(true);
      // An anonymised IPv4 shares the full one's first three octets: look for the full value in quotes.
      for (const ip of absent) expect(text.includes(`${ip}\\"`) || text.includes(`${ip}"`), `${place} has no ${ip}`).toBe(false);
    }
  }, 60_000);
});
