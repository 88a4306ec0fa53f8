import { describe, expect, it } from 'vitest';
import type { CollectedEvent } from '../../schema/event';
import { anonymizeIp } from '../../workers/collect/enrich';
import { callCollect, trackEvent } from './collect-support';
import { basic, createTestWorkspace } from './support';

const MINUTE = 60_000;

async function collectOne(key: string, event: Record<string, unknown>, batchFields: Record<string, unknown> = {}): Promise<{ event: CollectedEvent; before: number; after: number }> {
  const before = Date.now();
  const { response, queue } = await callCollect('/v1/batch', { headers: basic(key), json: { batch: [event], ...batchFields } });
  const after = Date.now();
  expect(response.status).toBe(200);
  const [collected] = queue.events();
  if (!collected) throw new Error('nothing queued');
  return { event: collected, before, after };
}

describe('clock-skew correction', () => {
  it.each([
    ['5 minutes ahead', 5 * MINUTE],
    ['7 minutes behind', -7 * MINUTE],
    ['3 hours ahead', 180 * MINUTE],
  ])('a client clock %s: timestamp = receivedAt - (sentAt - originalTimestamp)', async (_name, skew) => {
    const ws = await createTestWorkspace();
    const deviceNow = Date.now() + skew;
    const happenedBeforeSend = 4_000;
    const { event } = await collectOne(ws.secretKey, trackEvent({ originalTimestamp: new Date(deviceNow - happenedBeforeSend).toISOString(), sentAt: new Date(deviceNow).toISOString() }));
    const receivedAt = Date.parse(event.receivedAt);
    expect(Date.parse(event.timestamp)).toBe(receivedAt - happenedBeforeSend);
    expect(event.originalTimestamp).toBe(new Date(deviceNow - happenedBeforeSend).toISOString());
    expect(event.timestampAdjustment).toBeNull();
  });

  it('applies the batch-level sentAt to events, and corrects an explicit timestamp sent with sentAt', async () => {
    const ws = await createTestWorkspace();
    const deviceNow = Date.now() + 10 * MINUTE;
    const { event } = await collectOne(ws.secretKey, trackEvent({ timestamp: new Date(deviceNow - 1_500).toISOString() }), { sentAt: new Date(deviceNow).toISOString() });
    expect(Date.parse(event.timestamp)).toBe(Date.parse(event.receivedAt) - 1_500);
    expect(event.sentAt).toBe(new Date(deviceNow).toISOString());
  });

  it('takes an explicit timestamp without sentAt as given (historical import)', async () => {
    const ws = await createTestWorkspace();
    const { event } = await collectOne(ws.secretKey, trackEvent({ timestamp: '2024-03-01T12:00:00.000Z' }));
    expect(event.timestamp).toBe('2024-03-01T12:00:00.000Z');
    expect(event.timestampAdjustment).toBeNull();
  });

  it('uses receivedAt when the client sent no time at all', async () => {
    const ws = await createTestWorkspace();
    const { event, before, after } = await collectOne(ws.secretKey, trackEvent());
    expect(event.timestamp).toBe(event.receivedAt);
    expect(Date.parse(event.receivedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(event.receivedAt)).toBeLessThanOrEqual(after);
  });

  it('clamps a far-future time to receivedAt and says so, keeping the client value', async () => {
    const ws = await createTestWorkspace();
    const { event } = await collectOne(ws.secretKey, trackEvent({ timestamp: '2099-01-01T00:00:00.000Z' }));
    expect(event.timestamp).toBe(event.receivedAt);
    expect(event.timestampAdjustment).toBe('clamped_future');
    expect(event.originalTimestamp).toBe('2099-01-01T00:00:00.000Z');
    // sentAt far before originalTimestamp pushes the corrected time days into the future.
    const skewed = await collectOne(ws.secretKey, trackEvent({ originalTimestamp: '2030-01-10T00:00:00.000Z', sentAt: '2030-01-01T00:00:00.000Z' }));
    expect(skewed.event.timestampAdjustment).toBe('clamped_future');
    expect(skewed.event.timestamp).toBe(skewed.event.receivedAt);
  });

  it('clamps a time older than the retention bound (a device clock at 1970)', async () => {
    const ws = await createTestWorkspace();
    const { event } = await collectOne(ws.secretKey, trackEvent({ timestamp: '1970-01-01T00:00:10.000Z' }));
    expect(event.timestampAdjustment).toBe('clamped_past');
    expect(event.timestamp).toBe(event.receivedAt);
  });

  it('keeps times within the future bound (a few minutes ahead without sentAt)', async () => {
    const ws = await createTestWorkspace();
    const ahead = new Date(Date.now() + 3 * MINUTE).toISOString();
    const { event } = await collectOne(ws.secretKey, trackEvent({ timestamp: ahead }));
    expect(event.timestamp).toBe(ahead);
    expect(event.timestampAdjustment).toBeNull();
  });
});

describe('request enrichment', () => {
  it('browser events take ip from CF-Connecting-IP, the request user agent and request.cf geo', async () => {
    const ws = await createTestWorkspace();
    const userAgent = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
    const { queue } = await callCollect(
      '/v1/track',
      { headers: { ...basic(ws.writeKey), 'cf-connecting-ip': '203.0.113.77', 'user-agent': userAgent }, json: trackEvent({ context: { library: { name: 'monfri.js', version: '0.3.1' }, sessionId: 'sess-9' } }) },
      { cf: { country: 'FR', region: 'Île-de-France', city: 'Paris', colo: 'CDG' } },
    );
    expect(queue.events()[0]).toMatchObject({
      source: 'browser',
      ip: '203.0.113.77',
      userAgent,
      geo: { country: 'FR', region: 'Île-de-France', city: 'Paris' },
      library: { name: 'monfri.js', version: '0.3.1' },
      sessionId: 'sess-9',
      bot: { flagged: false, reason: null },
    });
  });

  it('server events ignore the connection (the customer server) and use the forwarded context.ip and context.userAgent', async () => {
    const ws = await createTestWorkspace();
    const { queue } = await callCollect('/v1/track', {
      headers: { ...basic(ws.secretKey), 'cf-connecting-ip': '198.51.100.1', 'user-agent': 'analytics-node-next/latest' },
      json: trackEvent({ context: { ip: '192.0.2.44', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } }),
    });
    expect(queue.events()[0]).toMatchObject({ source: 'server', ip: '192.0.2.44', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', geo: null, library: { name: 'unknown', version: 'unknown' } });
    const bare = await callCollect('/v1/track', { headers: { ...basic(ws.secretKey), 'cf-connecting-ip': '198.51.100.1' }, json: trackEvent() });
    expect(bare.queue.events()[0]).toMatchObject({ ip: null, userAgent: null });
  });

  it('anonymises IPv4 and IPv6 for a workspace that asks for it, including a forwarded context.ip', async () => {
    const ws = await createTestWorkspace('private workspace', { anonymizeIp: true });
    // A CORS request (Origin header): browser traffic, so the connecting IP is the visitor's.
    const browser = { origin: 'https://shop.example.com' };
    const v4 = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), ...browser, 'cf-connecting-ip': '203.0.113.77' }, json: trackEvent({ context: { ip: '192.0.2.44' } }) });
    expect(v4.queue.events()[0]).toMatchObject({ ip: '203.0.113.0', context: { ip: '192.0.2.0' } });
    const v6 = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), ...browser, 'cf-connecting-ip': '2001:db8:85a3:1234:5678:8a2e:370:7334' }, json: trackEvent() });
    expect(v6.queue.events()[0]?.ip).toBe('2001:db8:85a3::');
    const plain = await createTestWorkspace();
    const raw = await callCollect('/v1/track', { headers: { ...basic(plain.writeKey), ...browser, 'cf-connecting-ip': '203.0.113.77' }, json: trackEvent() });
    expect(raw.queue.events()[0]?.ip).toBe('203.0.113.77');
  });

  it('anonymizeIp keeps the /24 or /48 network of every address form', () => {
    expect(anonymizeIp('10.1.2.3')).toBe('10.1.2.0');
    expect(anonymizeIp('2001:db8::1')).toBe('2001:db8:0::');
    expect(anonymizeIp('::1')).toBe('0:0:0::');
    expect(anonymizeIp('2001:0DB8:00a0:1::')).toBe('2001:db8:a0::');
  });
});

describe('bot screening', () => {
  it('layer 1: SDK automation signals flag the event with sdk_automation:<signals>', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/collect', {
      headers: { 'content-type': 'text/plain', 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36' },
      body: JSON.stringify({ writeKey: ws.writeKey, batch: [trackEvent({ context: { automation: ['webdriver', 'headless_ua', { not: 'a signal' }] } })] }),
    });
    expect(response.status).toBe(200);
    expect(queue.events()[0]?.bot).toEqual({ flagged: true, reason: 'sdk_automation:webdriver,headless_ua' });
  });

  it('layer 2: a crawler user agent on a browser event is flagged user_agent:<the matched product> (and still accepted)', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/track', {
      headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
      json: trackEvent(),
    });
    expect(response.status).toBe(200);
    expect(queue.events()[0]?.bot).toEqual({ flagged: true, reason: 'user_agent:googlebot' });
  });

  it('server events are not screened on the server’s own request UA, only on a forwarded context.userAgent', async () => {
    const ws = await createTestWorkspace();
    const ownUa = await callCollect('/v1/track', { headers: { ...basic(ws.secretKey), 'user-agent': 'curl/8.5.0' }, json: trackEvent() });
    expect(ownUa.queue.events()[0]?.bot).toEqual({ flagged: false, reason: null });
    const sameUaFromBrowser = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'user-agent': 'curl/8.5.0' }, json: trackEvent() });
    expect(sameUaFromBrowser.queue.events()[0]?.bot).toEqual({ flagged: true, reason: 'user_agent:curl' });
    const forwarded = await callCollect('/v1/track', {
      headers: { ...basic(ws.secretKey), 'user-agent': 'curl/8.5.0' },
      json: trackEvent({ context: { userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)' } }),
    });
    expect(forwarded.queue.events()[0]?.bot).toEqual({ flagged: true, reason: 'user_agent:bingbot' });
  });
});
