/**
 * Per-workspace settings, stored as one JSON document in D1 (`workspaces.settings`) and read
 * through this schema, so a document written before a setting existed still parses: every key
 * has a default. Later areas (tracking plans, retention, ...) add their own section here.
 */
import { z } from 'zod';

/** What happens to an event a bot layer flags: stored with its reason (default), or not stored at all. */
export const BOT_ACTIONS = ['flag', 'drop'] as const;
export type BotAction = (typeof BOT_ACTIONS)[number];

/** The four layers of bot screening, as they name themselves in an event's bot reasons. */
export const BOT_LAYERS = ['sdk_automation', 'user_agent', 'burst', 'ip_rate'] as const;
export type BotLayer = (typeof BOT_LAYERS)[number];

/**
 * The layer behind one bot reason. An event's reasons are space-separated, each
 * `<layer>[:<detail>]` (`user_agent:googlebot`, `burst:1s`), except `ua_missing` (a browser
 * request without a user agent), which is the user-agent layer's.
 */
export function botLayerOf(reason: string): BotLayer | null {
  if (reason === 'ua_missing') return 'user_agent';
  const layer = reason.split(':', 1)[0];
  return BOT_LAYERS.find((candidate) => candidate === layer) ?? null;
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d|[12]\d|3[0-2]))?$/;
const IPV6_CIDR = /^[0-9a-f:.]+(\/(\d|[1-9]\d|1[01]\d|12[0-8]))?$/i;

/** An IPv4 or IPv6 address, optionally with a prefix length (CIDR). */
export const ipOrCidrSchema = z
  .string()
  .trim()
  .max(64)
  .refine((value) => {
    const v4 = IPV4_CIDR.exec(value);
    if (v4) return v4.slice(1, 5).every((octet) => Number(octet) <= 255);
    return value.includes(':') && IPV6_CIDR.test(value);
  }, 'must be an IP address or CIDR, e.g. 203.0.113.0/24 or 2001:db8::/32');

/**
 * Layer defaults. Burst thresholds come from bench/bursts (bench/results/bursts.md: the SDK demo
 * in headless Chromium, driven by people's pace and by scripts): a person clicking one button as
 * fast as they can for 10 s sent at most 8 events in 1 s and 60 in 10 s; a Playwright loop
 * without pauses sent 25 in 1 s and 100 in under 6 s, and dispatched clicks 100 at once. The
 * thresholds sit between, with room on the human side: never cost a person an event.
 */
export const BOT_DEFAULTS = {
  ipEventsPerMinute: 1000,
  ipCooldownSeconds: 60,
  burstEventsPerSecond: 15,
  burstEventsPer10Seconds: 100,
} as const;

const action = z.enum(BOT_ACTIONS).default('flag');

export const botSettingsSchema = z.object({
  /** Never flagged by any layer: the customer's own monitors, office or test IPs. */
  allowIps: z.array(ipOrCidrSchema).max(200).default([]),
  /** Case-insensitive substrings of a user agent never flagged (e.g. an uptime monitor's name). */
  allowUserAgents: z.array(z.string().trim().min(3).max(200)).max(200).default([]),
  sdkAutomation: z.object({ action }).prefault({}),
  userAgent: z.object({ action }).prefault({}),
  burst: z
    .object({
      action,
      eventsPerSecond: z.number().int().min(2).max(10_000).default(BOT_DEFAULTS.burstEventsPerSecond),
      eventsPer10Seconds: z.number().int().min(5).max(100_000).default(BOT_DEFAULTS.burstEventsPer10Seconds),
    })
    .prefault({}),
  ipRate: z
    .object({
      action,
      eventsPerMinute: z.number().int().min(10).max(10_000_000).default(BOT_DEFAULTS.ipEventsPerMinute),
      cooldownSeconds: z.number().int().min(0).max(3600).default(BOT_DEFAULTS.ipCooldownSeconds),
    })
    .prefault({}),
});
export type BotSettings = z.output<typeof botSettingsSchema>;

/**
 * What the edge does with an event the workspace's tracking plan does not expect (an unplanned
 * track event) or that breaks a rule: `allow` stores it as usual and still counts the violation,
 * `flag` stores it with `plan_violation = 1` and the reasons, `block` refuses it in the batch
 * answer with the reasons (its valid siblings are accepted).
 */
export const PLAN_ACTIONS = ['allow', 'flag', 'block'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

export const trackingPlanSettingsSchema = z.object({
  unplanned: z.enum(PLAN_ACTIONS).default('allow'),
  violations: z.enum(PLAN_ACTIONS).default('allow'),
  /** Flagged plan violations are kept out of segments unless the workspace wants them in. */
  flaggedInSegments: z.boolean().default(false),
});
export type TrackingPlanSettings = z.output<typeof trackingPlanSettingsSchema>;

/**
 * What the edge does with an event for a deleted (suppressed) userId or anonymousId: `drop`
 * (default, as Segment does) answers it as accepted and stores nothing; `refuse` lists it in the
 * batch answer as `suppressed_identity` (403 on a single-event route). Dropping is the default
 * because a deleted person's devices keep sending (SDK retry queues, a cached anonymousId): a 4xx
 * makes clients retry or log errors forever, and would tell anyone holding the public write key
 * that this id was deleted.
 */
export const SUPPRESSED_EVENT_ACTIONS = ['drop', 'refuse'] as const;
export type SuppressedEventAction = (typeof SUPPRESSED_EVENT_ACTIONS)[number];

/** Longest retention a workspace may set: 10 years. */
export const MAX_RETENTION_MONTHS = 120;

export const privacySettingsSchema = z.object({
  suppressedEvents: z.enum(SUPPRESSED_EVENT_ACTIONS).default('drop'),
  /**
   * Events older than this many whole calendar months are removed by the scheduled housekeeping
   * (null: kept). Month granularity: the events table is partitioned by month, see
   * workers/scheduled/retention.ts.
   */
  retentionMonths: z.number().int().min(1).max(MAX_RETENTION_MONTHS).nullable().default(null),
});
export type PrivacySettings = z.output<typeof privacySettingsSchema>;

export const workspaceSettingsSchema = z.object({
  bots: botSettingsSchema.prefault({}),
  trackingPlan: trackingPlanSettingsSchema.prefault({}),
  privacy: privacySettingsSchema.prefault({}),
});
export type WorkspaceSettings = z.output<typeof workspaceSettingsSchema>;

export const DEFAULT_WORKSPACE_SETTINGS: WorkspaceSettings = workspaceSettingsSchema.parse({});

/** A partial update: objects merge key by key, arrays and values replace. */
export const workspaceSettingsPatchSchema = z.object({
  bots: z
    .object({
      allowIps: z.array(ipOrCidrSchema).max(200).optional(),
      allowUserAgents: z.array(z.string().trim().min(3).max(200)).max(200).optional(),
      sdkAutomation: z.object({ action: z.enum(BOT_ACTIONS).optional() }).optional(),
      userAgent: z.object({ action: z.enum(BOT_ACTIONS).optional() }).optional(),
      burst: z.object({ action: z.enum(BOT_ACTIONS).optional(), eventsPerSecond: z.number().int().min(2).max(10_000).optional(), eventsPer10Seconds: z.number().int().min(5).max(100_000).optional() }).optional(),
      ipRate: z.object({ action: z.enum(BOT_ACTIONS).optional(), eventsPerMinute: z.number().int().min(10).max(10_000_000).optional(), cooldownSeconds: z.number().int().min(0).max(3600).optional() }).optional(),
    })
    .optional(),
  trackingPlan: z
    .object({ unplanned: z.enum(PLAN_ACTIONS).optional(), violations: z.enum(PLAN_ACTIONS).optional(), flaggedInSegments: z.boolean().optional() })
    .optional(),
  privacy: z
    .object({ suppressedEvents: z.enum(SUPPRESSED_EVENT_ACTIONS).optional(), retentionMonths: z.number().int().min(1).max(MAX_RETENTION_MONTHS).nullable().optional() })
    .optional(),
});
export type WorkspaceSettingsPatch = z.output<typeof workspaceSettingsPatchSchema>;

/** Settings from the stored JSON; a document that no longer parses falls back to the defaults (and says so). */
export function parseWorkspaceSettings(stored: string | null | undefined): { settings: WorkspaceSettings; valid: boolean } {
  try {
    const parsed = workspaceSettingsSchema.safeParse(JSON.parse(stored ?? '{}'));
    return parsed.success ? { settings: parsed.data, valid: true } : { settings: DEFAULT_WORKSPACE_SETTINGS, valid: false };
  } catch {
    return { settings: DEFAULT_WORKSPACE_SETTINGS, valid: false };
  }
}

function mergeObjects(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = merged[key];
    const bothObjects = typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current);
    Object.defineProperty(merged, key, { value: bothObjects ? mergeObjects(current as Record<string, unknown>, value as Record<string, unknown>) : value, enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

/** Applies a validated patch and re-validates the whole document. */
export function applySettingsPatch(settings: WorkspaceSettings, patch: WorkspaceSettingsPatch): WorkspaceSettings {
  return workspaceSettingsSchema.parse(mergeObjects(settings, patch));
}
