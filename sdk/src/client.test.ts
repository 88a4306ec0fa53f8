import { describe, expect, it } from 'vitest';
import { ANONYMOUS_ID_KEY, createClient, type MonfriApi } from './client';
import { SESSION_IDLE_MS } from './session';
import { memoryStore, webStore } from './storage';
import { fakePlatform, FakeTransport, status, throwingStore, type FakePlatform } from './test-support';
import type { JsonObject, MonfriOptions, SdkEvent } from './types';
import { SDK_VERSION } from './version';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function started(options: MonfriOptions = {}, platform: FakePlatform = fakePlatform()): { monfri: MonfriApi; platform: FakePlatform } {
  const monfri = createClient(() => platform);
  monfri.init('wk_test', { autocapture: false, ...options });
  return { monfri, platform };
}

async function sent(monfri: MonfriApi, platform: FakePlatform): Promise<SdkEvent[]> {
  await monfri.flush();
  return platform.transport.delivered;
}

describe('events', () => {
  it('builds Segment-shaped events with ids, times and the full context', async () => {
    const { monfri, platform } = started();
    monfri.track('Order Completed', { revenue: 42, items: ['a'] });
    const [event] = await sent(monfri, platform);
    expect(event).toMatchObject({
      type: 'track',
      event: 'Order Completed',
      properties: { revenue: 42, items: ['a'] },
      originalTimestamp: new Date(platform.clock.now()).toISOString(),
      context: {
        library: { name: 'monfri.js', version: SDK_VERSION },
        page: { url: 'https://shop.example/pricing?x=1', path: '/pricing', referrer: 'https://search.example/', title: 'Pricing', search: '?x=1' },
        userAgent: platform.env.userAgent,
        locale: 'en-GB',
        screen: { width: 1280, height: 800 },
        timezone: 'Europe/Paris',
        sessionStart: true,
      },
    });
    expect(event?.messageId).toMatch(UUID);
    expect(event?.anonymousId).toMatch(UUID);
    expect(typeof event?.context.sessionId).toBe('string');
    expect(event?.context).not.toHaveProperty('automation');
    expect(event).not.toHaveProperty('userId');
  });

  it('covers identify, page, group and alias', async () => {
    const { monfri, platform } = started();
    monfri.identify('user-1', { plan: 'growth' });
    monfri.page('Pricing', { variant: 'b' });
    monfri.group('acme', { seats: 5 });
    monfri.alias('user-2');
    const events = await sent(monfri, platform);
    expect(events.map((e) => e.type)).toEqual(['identify', 'page', 'group', 'alias']);
    expect(events[0]).toMatchObject({ userId: 'user-1', traits: { plan: 'growth' } });
    expect(events[1]).toMatchObject({ userId: 'user-1', name: 'Pricing', properties: { variant: 'b', path: '/pricing', title: 'Pricing', url: 'https://shop.example/pricing?x=1' } });
    expect(events[2]).toMatchObject({ groupId: 'acme', traits: { seats: 5 } });
    expect(events[3]).toMatchObject({ previousId: 'user-1', userId: 'user-2' });
    expect(new Set(events.map((e) => e.messageId)).size).toBe(4);
  });

  it('flags only the first event of a session and rotates after 30 idle minutes', async () => {
    const { monfri, platform } = started();
    monfri.track('a');
    monfri.track('b');
    await platform.clock.advance(SESSION_IDLE_MS + 1);
    monfri.track('c');
    const [a, b, c] = await sent(monfri, platform);
    expect(a?.context.sessionStart).toBe(true);
    expect(b?.context).not.toHaveProperty('sessionStart');
    expect(b?.context.sessionId).toBe(a?.context.sessionId);
    expect(c?.context.sessionStart).toBe(true);
    expect(c?.context.sessionId).not.toBe(a?.context.sessionId);
  });

  it('reports automation signals when the platform found some, and still sends', async () => {
    const platform = fakePlatform();
    platform.env.automation = ['webdriver', 'headless_ua'];
    const { monfri } = started({}, platform);
    monfri.track('x');
    const [event] = await sent(monfri, platform);
    expect(event?.context.automation).toEqual(['webdriver', 'headless_ua']);
  });

  it('uses the previous URL as referrer for single-page navigations', async () => {
    const { monfri, platform } = started({ autocapture: { pageview: true, click: false, form: false } });
    platform.env.page = { ...platform.env.page, url: 'https://shop.example/checkout', path: '/checkout' };
    platform.sink?.page();
    const [load, navigation] = await sent(monfri, platform);
    expect(load).toMatchObject({ properties: { referrer: 'https://search.example/' } });
    expect(navigation).toMatchObject({ properties: { url: 'https://shop.example/checkout', referrer: 'https://shop.example/pricing?x=1' } });
    expect(navigation?.context.page).toMatchObject({ referrer: 'https://shop.example/pricing?x=1' });
  });
});

describe('identity', () => {
  it('keeps the anonymous id (cookie and storage) and the user id across page loads', async () => {
    const store = memoryStore();
    const cookie = memoryStore();
    const first = started({}, fakePlatform({ store, idCookie: cookie }));
    first.monfri.identify('user-7');
    const [identify] = await sent(first.monfri, first.platform);
    expect(cookie.get(ANONYMOUS_ID_KEY)).toBe(identify?.anonymousId);

    const second = started({}, fakePlatform({ store, idCookie: cookie }));
    second.monfri.track('again');
    const [again] = await sent(second.monfri, second.platform);
    expect(again).toMatchObject({ anonymousId: identify?.anonymousId, userId: 'user-7' });
  });

  it('prefers the cookie when localStorage was cleared', async () => {
    const cookie = memoryStore();
    cookie.set(ANONYMOUS_ID_KEY, 'from-cookie');
    const { monfri, platform } = started({}, fakePlatform({ idCookie: cookie }));
    monfri.track('x');
    expect((await sent(monfri, platform))[0]?.anonymousId).toBe('from-cookie');
  });

  it('reset() forgets the user, starts a new anonymous id and a new session', async () => {
    const { monfri, platform } = started();
    monfri.identify('user-1');
    monfri.reset();
    monfri.track('after');
    const [before, after] = await sent(monfri, platform);
    expect(after).not.toHaveProperty('userId');
    expect(after?.anonymousId).not.toBe(before?.anonymousId);
    expect(after?.context.sessionId).not.toBe(before?.context.sessionId);
    expect(after?.context.sessionStart).toBe(true);
  });

  it('cookieless mode writes no cookie', async () => {
    const platform = fakePlatform({ idCookie: null });
    const { monfri } = started({ cookieless: true }, platform);
    monfri.track('x');
    expect(await sent(monfri, platform)).toHaveLength(1);
    expect(platform.idCookie).toBeNull();
  });
});

describe('privacy', () => {
  it('optOut() is persisted, clears what was waiting and sends nothing until optIn()', async () => {
    const consent = memoryStore();
    const first = started({}, fakePlatform({ consent }));
    first.monfri.track('queued before opting out');
    first.monfri.optOut();
    first.monfri.track('after opt-out');
    first.monfri.identify('user-1');
    await first.monfri.flush();
    expect(first.platform.transport.posts).toHaveLength(0);
    expect(first.platform.store.get(ANONYMOUS_ID_KEY)).toBeNull();

    const reloaded = started({}, fakePlatform({ consent }));
    reloaded.monfri.track('still opted out');
    await reloaded.monfri.flush();
    expect(reloaded.platform.transport.posts).toHaveLength(0);

    reloaded.monfri.optIn();
    reloaded.monfri.track('back');
    expect((await sent(reloaded.monfri, reloaded.platform)).map((e) => e.type === 'track' && e.event)).toEqual(['back']);
  });

  it('honours Do-Not-Track / GPC only when respectDnt is set', async () => {
    const honouring = fakePlatform();
    honouring.signal = true;
    const a = started({ respectDnt: true }, honouring);
    a.monfri.track('x');
    expect(await sent(a.monfri, honouring)).toHaveLength(0);

    const ignoring = fakePlatform();
    ignoring.signal = true;
    const b = started({}, ignoring);
    b.monfri.track('x');
    expect(await sent(b.monfri, ignoring)).toHaveLength(1);
  });
});

describe('loading and safety', () => {
  it('replays calls made before init(), in order', async () => {
    const platform = fakePlatform();
    const monfri = createClient(() => platform);
    monfri.identify('early-user');
    monfri.track('Early', { n: 1 });
    monfri.init('wk_test', { autocapture: false });
    const events = await sent(monfri, platform);
    expect(events.map((e) => e.type)).toEqual(['identify', 'track']);
    expect(events[1]).toMatchObject({ userId: 'early-user', event: 'Early' });
  });

  it('sends the load page view when autocapture is on', async () => {
    const { monfri, platform } = started({ autocapture: true });
    expect((await sent(monfri, platform)).map((e) => e.type)).toEqual(['page']);
  });

  it('never throws into the host page', async () => {
    const cyclic: JsonObject = {};
    (cyclic as Record<string, unknown>).self = cyclic;
    const platform = fakePlatform({ store: throwingStore() });
    const monfri = createClient(() => platform);
    expect(() => {
      monfri.track('before init');
      monfri.init('wk_test', { autocapture: false });
      monfri.init('', {});
      monfri.track('cyclic', cyclic);
      monfri.track(undefined as unknown as string);
      monfri.identify({ not: 'an id' });
      monfri.alias('x');
      monfri.reset();
      monfri.optOut();
      monfri.optIn();
      monfri.debug(true);
    }).not.toThrow();
    await expect(monfri.flush()).resolves.toBeUndefined();
  });

  it('keeps working when the browser refuses storage (Safari private mode, blocked cookies)', async () => {
    const refused = (): Storage => {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    };
    const blocked = webStore(refused);
    const { monfri, platform } = started({}, fakePlatform({ store: blocked, consent: blocked }));
    monfri.identify('user-1');
    monfri.track('x');
    const events = await sent(monfri, platform);
    expect(events.map((e) => e.type)).toEqual(['identify', 'track']);
    expect(events[1]).toMatchObject({ userId: 'user-1', anonymousId: events[0]?.anonymousId });
  });

  it('warns and drops on a 4xx from the edge', async () => {
    const transport = new FakeTransport();
    transport.answer = () => status(403);
    const { monfri, platform } = started({}, fakePlatform({ transport }));
    monfri.track('x');
    await monfri.flush();
    expect(platform.warnings.join()).toMatch(/403/);
  });
});
