import { Validator } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../schema/event';
import type { TrackingPlan } from '../../schema/tracking-plan';
import { benchmarkPlan, conformingPropertiesOf } from './fixtures/benchmark-plan';
import { compilePlan, validateEventAgainstPlan, type PlanCheckedEvent } from './validate';

/**
 * Micro-benchmark: µs per event for a 200-event plan (with a common schema), printed, never
 * asserted (machines differ). Budget: at most ~10% of the edge's ~30 µs per event.
 */
const PLAN_SIZE = 200;
const RUNS = 50_000;
const ROUNDS = 5;
const WARM_UP = 20_000;

const context: JsonObject = { app: { version: '2.14.0' }, locale: 'en-GB', library: { name: 'monfri.js', version: '1.0.0' }, page: { path: '/checkout', url: 'https://shop.example/checkout' } };

const bigPlan: TrackingPlan = benchmarkPlan(PLAN_SIZE, { id: 'tp_bench', version: 1 });
const planEvents = bigPlan.events;
const events: PlanCheckedEvent[] = planEvents.map((event) => ({
  type: 'track',
  event: event.name,
  properties: conformingPropertiesOf(event.name),
  context,
  userId: 'u-1',
  anonymousId: 'a-1',
}));

interface Timing {
  best: number;
  median: number;
}

/** Best and median of several rounds: the best is the least disturbed by other processes on the machine. */
function microsecondsPerEvent(runs: number, body: (index: number) => void): Timing {
  for (let index = 0; index < WARM_UP; index++) body(index);
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let index = 0; index < runs; index++) body(index);
    rounds.push(((performance.now() - started) * 1000) / runs);
  }
  rounds.sort((a, b) => a - b);
  return { best: rounds[0] ?? NaN, median: rounds[Math.floor(rounds.length / 2)] ?? NaN };
}

const show = ({ best, median }: Timing): string => `${best.toFixed(2)} µs/event (median ${median.toFixed(2)})`;

describe(`validating against a ${PLAN_SIZE}-event plan`, () => {
  // A generous timeout: the rounds take a few seconds on a busy shared machine.
  it('checks every event correctly, then prints µs/event', { timeout: 60_000 }, () => {
    const compiled = compilePlan(bigPlan);
    const firstPassStarted = performance.now();
    for (const event of events) expect(validateEventAgainstPlan(compiled, event), String(event.event)).toEqual({ planned: true, version: 1, violations: [] });
    const firstPassMs = performance.now() - firstPassStarted;
    const broken: PlanCheckedEvent = { type: 'track', event: planEvents[0]?.name ?? '', properties: { order_id: 'nope', products: [] }, context };
    expect(validateEventAgainstPlan(compiled, broken).violations.map((violation) => violation.rule)).toEqual(['pattern', 'minItems']);

    let violations = 0;
    const conforming = microsecondsPerEvent(RUNS, (index) => {
      violations += validateEventAgainstPlan(compiled, events[index % events.length] as PlanCheckedEvent).violations.length;
    });
    const failing = microsecondsPerEvent(RUNS / 10, () => {
      violations += validateEventAgainstPlan(compiled, broken).violations.length > 0 ? 0 : 1;
    });
    // The interpreter alone on the same events, for comparison: why the fast layer exists.
    const interpreters = planEvents.map((event) => new Validator(structuredClone(event.rules), '7', false));
    const interpreted = microsecondsPerEvent(RUNS / 10, (index) => {
      const event = events[index % events.length] as PlanCheckedEvent;
      violations += (interpreters[index % interpreters.length] as Validator).validate(event.properties).valid ? 0 : 1;
    });
    expect(violations).toBe(0);

    console.log(
      [
        `tracking plan check, ${PLAN_SIZE}-event plan + common schema (first pass, compiling every rule: ${firstPassMs.toFixed(1)} ms):`,
        `  conforming event:        ${show(conforming)}`,
        `  event with violations:   ${show(failing)}`,
        `  @cfworker alone (ref.):  ${show(interpreted)}`,
      ].join('\n'),
    );
  });
});
