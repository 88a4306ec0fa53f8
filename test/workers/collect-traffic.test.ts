/**
 * Browser vs server traffic is decided per request (workers/collect/traffic.ts), not by the
 * key: the SDK route, an Origin header or a browser library make it browser traffic (request
 * IP, user agent and geo are the visitor's); anything else is server traffic, where only what
 * `context` forwards describes the end user and nothing forwarded means no bot verdict.
 */
import { describe, expect, it } from 'vitest';
import { classifyUserAgent } from '../../workers/collect/bot-user-agent';
import { callCollect, trackEvent } from './collect-support';
import { basic, call, createTestWorkspace, OPERATOR } from './support';

const SERVER_IP = '198.51.100.1';
const CF_PARIS = { country: 'FR', region: 'Île-de-France', city: 'Paris' };
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('the traffic rule', () => {
  it('a curl-style request with a write key is server traffic: the connection, its user agent and its geo are not the end user', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect(
      '/v1/track',
      { headers: { ...basic(ws.writeKey), 'cf-connecting-ip': SERVER_IP, 'user-agent': 'curl/8.5.0' }, json: trackEvent() },
      { cf: CF_PARIS },
    );
    expect(response.status).toBe(200);
    expect(queue.events()[0]).toMatchObject({ source: 'server', ip: null, userAgent: null, geo: null, bot: { flagged: false, reason: null } });
  });

  it('server traffic takes ip, userAgent and location only from context, and a forwarded crawler UA is flagged', async () => {
    const ws = await createTestWorkspace();
    const context = { ip: '192.0.2.44', userAgent: FIREFOX, location: { country: 'DE', region: 'BE', city: 'Berlin', latitude: 52.5 } };
    const { queue } = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), 'cf-connecting-ip': SERVER_IP }, json: trackEvent({ context }) }, { cf: CF_PARIS });
    expect(queue.events()[0]).toMatchObject({ source: 'server', ip: '192.0.2.44', userAgent: FIREFOX, geo: { country: 'DE', region: 'BE', city: 'Berlin' }, bot: { flagged: false } });
    const crawler = await callCollect('/v1/track', { headers: basic(ws.writeKey), json: trackEvent({ context: { userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' } }) });
    expect(crawler.queue.events()[0]).toMatchObject({ source: 'server', bot: { flagged: true, reason: 'user_agent:googlebot' } });
  });

  it('a CORS request (Origin header) with a write key is browser traffic: request ip, user agent and request.cf geo', async () => {
    const ws = await createTestWorkspace();
    const { queue } = await callCollect(
      '/v1/track',
      { headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'cf-connecting-ip': '203.0.113.9', 'user-agent': FIREFOX }, json: trackEvent() },
      { cf: CF_PARIS },
    );
    expect(queue.events()[0]).toMatchObject({ source: 'browser', ip: '203.0.113.9', userAgent: FIREFOX, geo: CF_PARIS, bot: { flagged: false } });
  });

  it('a browser library in context.library makes that event browser traffic, per event within one batch', async () => {
    const ws = await createTestWorkspace();
    const batch = [
      trackEvent({ messageId: 'from-analytics-js', context: { library: { name: 'analytics.js', version: 'npm:next-1.70.0' } } }),
      trackEvent({ messageId: 'from-rudder-js', context: { library: { name: 'RudderLabs JavaScript SDK', version: '3.7.0' } } }),
      trackEvent({ messageId: 'from-node', context: { library: { name: 'analytics-node', version: '3.0.13' } } }),
    ];
    const { queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.writeKey), 'cf-connecting-ip': '203.0.113.9', 'user-agent': FIREFOX }, json: { batch } });
    expect(queue.events().map((event) => [event.messageId, event.source, event.ip])).toEqual([
      ['from-analytics-js', 'browser', '203.0.113.9'],
      ['from-rudder-js', 'browser', '203.0.113.9'],
      ['from-node', 'server', null],
    ]);
  });

  it('the SDK route is browser traffic without an Origin; a secret key is server traffic even with one', async () => {
    const ws = await createTestWorkspace();
    const sdk = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain', 'cf-connecting-ip': '203.0.113.9', 'user-agent': FIREFOX }, body: JSON.stringify({ writeKey: ws.writeKey, batch: [trackEvent()] }) });
    expect(sdk.queue.events()[0]).toMatchObject({ source: 'browser', ip: '203.0.113.9' });
    const secret = await callCollect('/v1/track', { headers: { ...basic(ws.secretKey), origin: 'https://shop.example.com', 'cf-connecting-ip': SERVER_IP, 'user-agent': FIREFOX }, json: trackEvent() });
    expect(secret.queue.events()[0]).toMatchObject({ source: 'server', ip: null, userAgent: null });
  });
});

describe('user agents', () => {
  it('browser traffic without a user agent (missing or blank header) is flagged ua_missing; server traffic without one gets no verdict', async () => {
    const ws = await createTestWorkspace();
    const missing = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: ws.writeKey, batch: [trackEvent()] }) });
    const blank = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain', 'user-agent': '  ' }, body: JSON.stringify({ writeKey: ws.writeKey, batch: [trackEvent()] }) });
    const server = await callCollect('/v1/track', { headers: basic(ws.writeKey), json: trackEvent() });
    expect([missing, blank, server].map(({ queue }) => queue.events()[0]?.bot)).toEqual([
      { flagged: true, reason: 'ua_missing' },
      { flagged: true, reason: 'ua_missing' },
      { flagged: false, reason: null },
    ]);
  });

  it('names the product token of a bot user agent, never just the fragment a pattern matched', () => {
    const cases: [string, string | null][] = [
      ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'googlebot'],
      ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', 'bingbot'],
      ['Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ChatGPT-User/1.0; +https://openai.com/bot)', 'chatgpt-user'],
      ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36', 'headlesschrome'],
      ['curl/8.5.0', 'curl'],
      ['python-requests/2.31.0', 'python-requests'],
      [FIREFOX, null],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', null],
    ];
    const tokens = cases.map(([userAgent]) => {
      const verdict = classifyUserAgent(userAgent);
      return verdict.bot ? verdict.token : null;
    });
    expect(tokens).toEqual(cases.map(([, token]) => token));
  });

  it('every layer that fires adds its reason: automation signals and a headless user agent together', async () => {
    const ws = await createTestWorkspace();
    const { queue } = await callCollect('/v1/collect', {
      headers: { 'content-type': 'text/plain', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36' },
      body: JSON.stringify({ writeKey: ws.writeKey, batch: [trackEvent({ context: { automation: ['webdriver'] } })] }),
    });
    expect(queue.events()[0]?.bot).toEqual({ flagged: true, reason: 'sdk_automation:webdriver user_agent:headlesschrome' });
  });

  it("the workspace's allow-list (user-agent substrings, IPs and CIDRs) is never flagged at the edge", async () => {
    const ws = await createTestWorkspace();
    const patched = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: OPERATOR, json: { bots: { allowUserAgents: ['UptimeRobot'], allowIps: ['198.51.100.0/24'] } } });
    expect(patched.status).toBe(200);
    const monitor = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'user-agent': 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)' }, json: trackEvent() });
    const office = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'cf-connecting-ip': '198.51.100.20', 'user-agent': 'curl/8.5.0' }, json: trackEvent() });
    const stranger = await callCollect('/v1/track', { headers: { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'cf-connecting-ip': '203.0.113.20', 'user-agent': 'curl/8.5.0' }, json: trackEvent() });
    expect([monitor, office, stranger].map(({ queue }) => queue.events()[0]?.bot)).toEqual([
      { flagged: false, reason: null },
      { flagged: false, reason: null },
      { flagged: true, reason: 'user_agent:curl' },
    ]);
  });
});
