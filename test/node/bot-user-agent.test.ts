/**
 * The layer-2 user-agent classifier (workers/collect/bot-user-agent.ts) where the Workers pool
 * cannot check it (test/workers/bot-user-agent.test.ts has the named cases): on user-agents'
 * 5 MB data file, and against the clock, which stands still inside workerd.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyUserAgent } from '../../workers/collect/bot-user-agent';

const userAgentsData = z.array(z.object({ userAgent: z.string(), weight: z.number() }));

function realBrowserUserAgents(): string[] {
  const file = join(dirname(createRequire(import.meta.url).resolve('user-agents')), 'user-agents.json');
  return [...new Set(userAgentsData.parse(JSON.parse(readFileSync(file, 'utf8'))).map(({ userAgent }) => userAgent))];
}

describe('hostile user agents', () => {
  it('padding costs no CPU: 50 KB user agents built to make patterns backtrack take milliseconds, not seconds', () => {
    const hostile = [`${'a'.repeat(50_000)} bot`, `Mozilla/5.0 (X11) ${'x.'.repeat(25_000)} bot`, 'http://'.repeat(7_000), `${'a'.repeat(60)} `.repeat(800)];
    const started = performance.now();
    for (const userAgent of hostile) classifyUserAgent(userAgent);
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe('real browsers (user-agents)', () => {
  it('flags none of the distinct user agents in its data file', () => {
    const userAgents = realBrowserUserAgents();
    expect(userAgents.length).toBeGreaterThan(500);
    expect(userAgents.filter((userAgent) => classifyUserAgent(userAgent).bot)).toEqual([]);
  });
});
