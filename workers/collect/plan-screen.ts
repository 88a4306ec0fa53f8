/**
 * Tracking-plan check at the edge, one step of the collect pipeline (after the event is built,
 * before it is serialised). The workspace's current plan comes from D1 through a per-isolate
 * cache (PlanStore, same TTL as the key cache) and is compiled once per plan revision
 * (lib/tracking-plans/validate.ts caches by `id@version`); a conforming event costs the
 * compiled check and nothing else.
 *
 * The workspace chooses separately for unplanned track events and for rule violations
 * (schema/workspace-settings.ts `trackingPlan`): `allow` stores the event and records what was
 * wrong (counted, not flagged), `flag` stores it flagged, `block` refuses it in the batch answer
 * with every reason while its valid siblings are accepted.
 */
import { withDeadline } from '../../lib/deadline';
import { currentPlanRevision, planFromText } from '../../lib/tracking-plans/store';
import { D1_LOOKUP_TIMEOUT_MS, D1_REFRESH_TIMEOUT_MS } from '../auth/key-store';
import { compilePlan, validateEventAgainstPlan, type CompiledPlan, type PlanViolation } from '../../lib/tracking-plans/validate';
import { PLAN_VIOLATIONS_KEPT, type CollectedEvent } from '../../schema/event';
import { EVENT_REJECTIONS } from '../../schema/rejections';
import type { TrackingPlan } from '../../schema/tracking-plan';
import type { PlanAction, TrackingPlanSettings } from '../../schema/workspace-settings';
import type { Refusal } from './validate';

type EventPlan = NonNullable<CollectedEvent['plan']>;

/** `block` keeps what the plan said (not flagged: never stored) for the live feed and the blocked counts (plan-blocked.ts). */
export type PlanVerdict = { kind: 'pass' } | { kind: 'store'; plan: EventPlan } | { kind: 'block'; refusal: Refusal; plan: EventPlan };

/** Checks one built event; the route builds one per request from the workspace's plan and settings. */
export type PlanScreen = (event: CollectedEvent) => PlanVerdict;

const PASS: PlanVerdict = { kind: 'pass' };
const UNPLANNED: PlanViolation = { path: 'event', rule: 'unplanned', message: 'The tracking plan does not list this event.' };

function blockMessage(code: 'plan_violation' | 'unplanned_event', violations: readonly PlanViolation[]): string {
  const listed = violations.slice(0, 3).map((violation) => `${violation.path || '(event)'}: ${violation.message}`);
  const more = violations.length > 3 ? ` (+${violations.length - 3} more)` : '';
  return `${EVENT_REJECTIONS[code]} ${listed.join('; ')}${more}`;
}

function strongest(a: PlanAction, b: PlanAction): PlanAction {
  const order: Record<PlanAction, number> = { allow: 0, flag: 1, block: 2 };
  return order[a] >= order[b] ? a : b;
}

export function createPlanScreen(compiled: CompiledPlan, settings: TrackingPlanSettings): PlanScreen {
  return (event) => {
    const check = validateEventAgainstPlan(compiled, event);
    if (check.planned && check.violations.length === 0) return PASS;
    const unplanned = !check.planned;
    const action = strongest(unplanned ? settings.unplanned : 'allow', check.violations.length > 0 ? settings.violations : 'allow');
    const violations = (unplanned ? [UNPLANNED, ...check.violations] : check.violations).slice(0, PLAN_VIOLATIONS_KEPT);
    if (action === 'block') {
      const code = unplanned && settings.unplanned === 'block' ? 'unplanned_event' : 'plan_violation';
      return { kind: 'block', refusal: { code, message: blockMessage(code, violations), path: violations[0]?.path ?? '', violations }, plan: { flagged: false, unplanned, violations } };
    }
    return { kind: 'store', plan: { flagged: action === 'flag', unplanned, violations } };
  };
}

interface CachedPlan {
  revision: string | null;
  plan: TrackingPlan | null;
  expiresAt: number;
}

/** After a failed refresh, how long the held plan applies before D1 is asked again. */
const PLAN_RETRY_AFTER_FAILURE_MS = 5000;

/**
 * Per-isolate cache of each workspace's current plan (null: none). A revision already held is
 * not parsed again; if D1 does not answer, the plan held (even expired) goes on applying, and a
 * workspace never seen is not checked: a control-plane outage must not refuse events.
 */
export class PlanStore {
  private readonly entries = new Map<string, CachedPlan>();
  private static readonly MAX_ENTRIES = 10_000;

  async current(db: D1Database, workspaceId: string, ttlSeconds: number, now = Date.now()): Promise<TrackingPlan | null> {
    const cached = this.entries.get(workspaceId);
    if (cached && cached.expiresAt > now) return cached.plan;
    let row: Awaited<ReturnType<typeof currentPlanRevision>>;
    try {
      // A stalled D1 must not hold the request: a plan already held only gets a short refresh.
      row = await withDeadline(currentPlanRevision(db, workspaceId), cached ? D1_REFRESH_TIMEOUT_MS : D1_LOOKUP_TIMEOUT_MS, 'd1');
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'tracking_plan_unavailable', workspaceId, error: String(error) }));
      // Keep applying what is held, and do not ask D1 again on every request while it fails.
      this.entries.set(workspaceId, { revision: cached?.revision ?? null, plan: cached?.plan ?? null, expiresAt: now + PLAN_RETRY_AFTER_FAILURE_MS });
      return cached?.plan ?? null;
    }
    const revision = row ? `${row.id}@${row.version}` : null;
    const plan = row === null ? null : revision === cached?.revision ? cached.plan : planFromText(row.plan, row.id, row.version);
    if (this.entries.size >= PlanStore.MAX_ENTRIES) this.entries.clear();
    this.entries.set(workspaceId, { revision, plan, expiresAt: now + ttlSeconds * 1000 });
    return plan;
  }
}

/** The screen for one request's workspace, or null when it has no plan. */
export async function planScreenFor(store: PlanStore, db: D1Database, workspaceId: string, settings: TrackingPlanSettings, ttlSeconds: number): Promise<PlanScreen | null> {
  const plan = await store.current(db, workspaceId, ttlSeconds);
  return plan ? createPlanScreen(compilePlan(plan), settings) : null;
}
