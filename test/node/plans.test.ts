/** The plan and overage rules of schema/plans.ts at their edges. */
import { describe, expect, it } from 'vitest';
import { monthContaining, monthOf, overageFor, PLAN_CATALOG, planAt, planForMonth, trialEndMs, type PlanHistory } from '../../schema/plans';

const at = (iso: string): number => Date.parse(iso);

describe('overage', () => {
  const limit = PLAN_CATALOG.starter.includedEvents;
  it.each([
    ['below the limit', limit - 1, 0, 0],
    ['exactly at the limit', limit, 0, 0],
    ['one over', limit + 1, 1, 12],
    ['50,000 over', limit + 50_000, 1, 12],
    ['50,001 over', limit + 50_001, 2, 24],
    ['1,000,000 over', limit + 1_000_000, 20, 240],
  ])('%s: %i counted events cost %i blocks, EUR %i', (_name, counted, blocks, eur) => {
    expect(overageFor(counted, limit)).toEqual({ events: Math.max(0, counted - limit), blocks, eur });
  });

  it('the catalog holds the product page numbers', () => {
    expect(Object.values(PLAN_CATALOG).map((plan) => [plan.id, plan.includedEvents])).toEqual([
      ['starter', 50_000],
      ['growth', 1_000_000],
      ['scale', 10_000_000],
    ]);
  });
});

describe('which plan applies', () => {
  const trialOnly: PlanHistory = { trialEndsAt: '2026-11-15T10:00:00.000Z', changes: [] };

  it('a new workspace is on the Growth trial until it ends, then on Starter', () => {
    expect(planAt(trialOnly, at('2026-11-15T09:59:59.999Z'))).toMatchObject({ plan: { id: 'growth' }, source: 'trial' });
    expect(planAt(trialOnly, at('2026-11-15T10:00:00.000Z'))).toMatchObject({ plan: { id: 'starter' }, source: 'default' });
  });

  it('the trial ending mid-month puts the whole month on Starter; the trial part stays free', () => {
    const november = monthOf('2026-11');
    if (!november) throw new Error('month');
    expect(planForMonth(trialOnly, november, at('2026-12-05T00:00:00.000Z'))).toMatchObject({ plan: { id: 'starter' }, source: 'default' });
    expect(trialEndMs(trialOnly)).toBe(at('2026-11-15T10:00:00.000Z'));
  });

  it('a plan chosen mid-month applies to the whole month, and ends the trial when chosen during it', () => {
    const history: PlanHistory = { trialEndsAt: '2026-11-15T10:00:00.000Z', changes: [{ plan: 'scale', changedAt: '2026-11-10T12:00:00.000Z' }] };
    const november = monthOf('2026-11');
    if (!november) throw new Error('month');
    // Asked on the 3rd: the plan then was the trial; at the month's end it is Scale.
    expect(planForMonth(history, november, at('2026-11-03T00:00:00.000Z'))).toMatchObject({ plan: { id: 'growth' }, source: 'trial' });
    expect(planForMonth(history, november, at('2026-12-01T00:00:00.000Z'))).toMatchObject({ plan: { id: 'scale' }, source: 'chosen', since: '2026-11-10T12:00:00.000Z' });
    expect(trialEndMs(history)).toBe(at('2026-11-10T12:00:00.000Z'));
  });

  it('the latest change before the instant wins', () => {
    const history: PlanHistory = { trialEndsAt: null, changes: [{ plan: 'growth', changedAt: '2026-10-01T00:00:00.000Z' }, { plan: 'starter', changedAt: '2026-11-20T00:00:00.000Z' }] };
    expect(planAt(history, at('2026-11-19T00:00:00.000Z')).plan.id).toBe('growth');
    expect(planAt(history, at('2026-11-21T00:00:00.000Z')).plan.id).toBe('starter');
  });

  it('months are UTC calendar months', () => {
    expect(monthContaining(at('2026-02-28T23:59:59.999Z'))).toEqual({ id: '2026-02', startMs: at('2026-02-01T00:00:00.000Z'), endMs: at('2026-03-01T00:00:00.000Z'), days: 28 });
    expect(monthOf('2028-02')?.days).toBe(29);
    expect(monthOf('2026-13')).toBeNull();
  });
});
