import { describe, expect, it } from 'vitest';
import { bearer, call, createTestWorkspace } from './support';
import { collected, deliver } from './pipeline-support';

interface StatsBody {
  interval: string;
  buckets: { bucket: string; event: string | null; count: number }[];
  totals: { events: number; uniquePersons: number };
}

const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;
const at = (minutesAgo: number, secondsIn: number): string => new Date(minuteStart - minutesAgo * 60_000 + secondsIn * 1000).toISOString();

describe('GET /v1/stats per minute', () => {
  it('counts each event in its UTC minute, once, without bots', async () => {
    const ws = await createTestWorkspace('stats-minute');
    const events = [
      collected(ws.workspaceId, { event: 'Clicked', timestamp: at(5, 1) }),
      collected(ws.workspaceId, { event: 'Clicked', timestamp: at(5, 59) }),
      collected(ws.workspaceId, { event: 'Clicked', timestamp: at(3, 30) }),
      collected(ws.workspaceId, { event: 'Viewed', timestamp: at(3, 10) }),
      collected(ws.workspaceId, { event: 'Clicked', timestamp: at(3, 20), bot: { flagged: true, reason: 'user_agent' } }),
    ];
    await deliver(events);
    await deliver([events[0]]);
    const from = encodeURIComponent(at(10, 0));
    const response = await call(`/v1/stats?interval=minute&from=${from}`, { headers: bearer(ws.secretKey) });
    expect(response.status).toBe(200);
    const body = await response.json<StatsBody>();
    expect(body.interval).toBe('minute');
    expect(body.buckets.map(({ bucket, event, count }) => ({ bucket, event, count }))).toEqual([
      { bucket: at(5, 0), event: 'Clicked', count: 2 },
      { bucket: at(3, 0), event: 'Clicked', count: 1 },
      { bucket: at(3, 0), event: 'Viewed', count: 1 },
    ]);
    expect(body.totals.events).toBe(4);
  });
});
