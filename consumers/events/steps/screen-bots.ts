/**
 * Step 3: bot screening layers 3 and 4, and each workspace's flag/drop choice for all four.
 * Layers 1 (SDK automation signals) and 2 (user agent) ran at the edge, per request, where the
 * request is; these two need counts shared across isolates and requests, so they run here, once
 * per batch, in ONE pipelined Redis round trip, after dedup (a redelivered or retried event is
 * not counted twice) and without adding anything to the edge's answer time.
 *
 * - Layer 3, burst: per browser session (`context.sessionId`), more than N events within 1 s or
 *   M within 10 s of event time flags the event (`burst:1s` / `burst:10s`), and the session's
 *   events stay flagged for the next 10 s.
 * - Layer 4, IP rate: per workspace and browser IP, more than L events within the 60 s before
 *   an event (by receivedAt, a sliding window) flags it (`ip_rate`) and sandboxes the IP: its
 *   events stay flagged for 60 s plus the cool-down.
 * Server traffic is exempt from both (a backend sends from one IP and imports history in
 * bursts by nature), as is anything on the workspace's allow-list. Counts live in sorted sets
 * trimmed by time and capped at twice the limit (an abusive IP costs bounded memory).
 * Fail open: without Redis (unconfigured, down, or failing mid-pipeline) no event is flagged by
 * these layers; the batch report says so (`botScreening.failedOpen`) and ingestion goes on.
 *
 * An event flagged by a layer whose action is `drop` is acknowledged and not stored (the live
 * feed shows it as dropped with its reasons); otherwise it is stored with `is_bot` and reasons.
 */
import { botAllowlist } from '../../../lib/bot-allowlist';
import { withRedisDeadline } from '../../../lib/redis';
import type { CollectedEvent } from '../../../schema/event';
import { botLayerOf, type BotLayer, type WorkspaceSettings } from '../../../schema/workspace-settings';
import type { WorkspaceProfile } from '../../workspace-profiles';
import { drop, type Outcome, type PipelineDeps, type PipelineItem, type RedisPipeline, type Step } from '../types';

const IP_WINDOW_MS = 60_000;
const BURST_SHORT_MS = 1_000;
const BURST_LONG_MS = 10_000;
const SESSION_BLOCK_MS = BURST_LONG_MS;
const KEY_GRACE_MS = 60_000;

interface CountedWindow {
  windowMs: number;
  limit: number;
  reason: string;
}

/** Events of one counter (a workspace's IP, or a session), with what to count them against. */
interface Group {
  counterKey: string;
  blockKey: string;
  blockReason: string;
  blockMs: number;
  items: PipelineItem[];
  scoreOf(event: CollectedEvent): number;
  windows: CountedWindow[];
}

export function ipCounterKey(workspaceId: string, ip: string): string {
  return `monfri:bots:ip:${workspaceId}:${ip}`;
}
export function ipBlockKey(workspaceId: string, ip: string): string {
  return `monfri:bots:ip-sandbox:${workspaceId}:${ip}`;
}
export function sessionCounterKey(workspaceId: string, sessionId: string): string {
  return `monfri:bots:session:${workspaceId}:${sessionId}`;
}
export function sessionBlockKey(workspaceId: string, sessionId: string): string {
  return `monfri:bots:session-block:${workspaceId}:${sessionId}`;
}

const receivedMs = (event: CollectedEvent): number => Date.parse(event.receivedAt);
const eventMs = (event: CollectedEvent): number => Date.parse(event.timestamp);

function groupsOf(items: readonly PipelineItem[], profiles: Map<string, WorkspaceProfile>): Group[] {
  const groups = new Map<string, Group>();
  const add = (key: string, make: () => Group, item: PipelineItem): void => {
    let group = groups.get(key);
    if (!group) {
      group = make();
      groups.set(key, group);
    }
    group.items.push(item);
  };
  for (const item of items) {
    const event = item.event;
    const bots = event ? profiles.get(event.workspaceId)?.settings.bots : undefined;
    if (!event || !bots || event.source !== 'browser' || botAllowlist(bots).allows(event.ip, event.userAgent)) continue;
    const { workspaceId, ip, sessionId } = event;
    if (ip) {
      add(ipCounterKey(workspaceId, ip), () => ({
        counterKey: ipCounterKey(workspaceId, ip),
        blockKey: ipBlockKey(workspaceId, ip),
        blockReason: 'ip_rate',
        blockMs: IP_WINDOW_MS + bots.ipRate.cooldownSeconds * 1000,
        items: [],
        scoreOf: receivedMs,
        windows: [{ windowMs: IP_WINDOW_MS, limit: bots.ipRate.eventsPerMinute, reason: 'ip_rate' }],
      }), item);
    }
    if (sessionId) {
      add(sessionCounterKey(workspaceId, sessionId), () => ({
        counterKey: sessionCounterKey(workspaceId, sessionId),
        blockKey: sessionBlockKey(workspaceId, sessionId),
        blockReason: 'burst',
        blockMs: SESSION_BLOCK_MS,
        items: [],
        scoreOf: eventMs,
        windows: [
          { windowMs: BURST_SHORT_MS, limit: bots.burst.eventsPerSecond, reason: 'burst:1s' },
          { windowMs: BURST_LONG_MS, limit: bots.burst.eventsPer10Seconds, reason: 'burst:10s' },
        ],
      }), item);
    }
  }
  return [...groups.values()];
}

/** Where one group's answers sit in the pipeline's results. */
interface Queued {
  group: Group;
  blockAt: number;
  /** Per window, the result index of the inclusive count at each distinct score. */
  countsAt: Map<number, number>[];
}

/** A pipeline that says where each queued command's answer will be. */
class IndexedPipeline {
  private count = 0;
  constructor(readonly pipeline: RedisPipeline) {}

  add(queue: (pipeline: RedisPipeline) => void): number {
    queue(this.pipeline);
    return this.count++;
  }
}

function queueGroup(commands: IndexedPipeline, group: Group): Queued {
  const scores = group.items.map((item) => (item.event ? group.scoreOf(item.event) : 0));
  const longest = Math.max(...group.windows.map((window) => window.windowMs));
  const cap = 2 * Math.max(...group.windows.map((window) => window.limit));
  const [first, ...rest] = group.items.map((item, index) => ({ score: scores[index] ?? 0, member: item.event?.messageId ?? '' }));
  const queued: Queued = { group, blockAt: commands.add((p) => p.get(group.blockKey)), countsAt: group.windows.map(() => new Map()) };
  if (first) commands.add((p) => p.zadd(group.counterKey, first, ...rest));
  commands.add((p) => p.zremrangebyscore(group.counterKey, '-inf', `(${Math.min(...scores) - longest}`));
  commands.add((p) => p.pexpire(group.counterKey, longest + KEY_GRACE_MS));
  group.windows.forEach((window, windowIndex) => {
    for (const score of new Set(scores)) {
      queued.countsAt[windowIndex]?.set(score, commands.add((p) => p.zcount(group.counterKey, `(${score - window.windowMs}`, score)));
    }
  });
  // After counting: keeping the newest 2x limit is enough to see a crossing next time.
  commands.add((p) => p.zremrangebyrank(group.counterKey, 0, -(cap + 1)));
  return queued;
}

function addReason(event: CollectedEvent, reason: string): void {
  const reasons = event.bot.reason ? event.bot.reason.split(' ') : [];
  if (!reasons.includes(reason)) reasons.push(reason);
  event.bot = { flagged: true, reason: reasons.join(' ') };
}

/**
 * Each event's count is what the window held up to its own score: the inclusive count at that
 * score, less this batch's events with the same score that come after it.
 */
function applyVerdicts(queued: Queued, results: readonly unknown[], state: { blocks: { key: string; reason: string; ms: number }[] }): void {
  const { group } = queued;
  const blocked = typeof results[queued.blockAt] === 'string';
  const sameScoreSeen = new Map<number, number>();
  const sameScoreTotal = new Map<number, number>();
  for (const item of group.items) if (item.event) sameScoreTotal.set(group.scoreOf(item.event), (sameScoreTotal.get(group.scoreOf(item.event)) ?? 0) + 1);
  let crossed = false;
  for (const item of group.items) {
    const event = item.event;
    if (!event) continue;
    if (blocked) {
      addReason(event, group.blockReason);
      continue;
    }
    const score = group.scoreOf(event);
    const position = (sameScoreSeen.get(score) ?? 0) + 1;
    sameScoreSeen.set(score, position);
    group.windows.forEach((window, windowIndex) => {
      const at = queued.countsAt[windowIndex]?.get(score);
      const inclusive = Number(at === undefined ? 0 : results[at]);
      const count = inclusive - (sameScoreTotal.get(score) ?? 0) + position;
      if (count > window.limit) {
        addReason(event, window.reason);
        crossed = true;
      }
    });
  }
  if (crossed) state.blocks.push({ key: group.blockKey, reason: group.blockReason, ms: group.blockMs });
}

/** The reasons of `event` whose layer the workspace set to `drop`. */
function droppingReasons(event: CollectedEvent, settings: WorkspaceSettings | undefined): string[] {
  if (!event.bot.flagged || !event.bot.reason || !settings) return [];
  const actions: Record<BotLayer, string> = {
    sdk_automation: settings.bots.sdkAutomation.action,
    user_agent: settings.bots.userAgent.action,
    burst: settings.bots.burst.action,
    ip_rate: settings.bots.ipRate.action,
  };
  return event.bot.reason.split(' ').filter((reason) => {
    const layer = botLayerOf(reason);
    return layer !== null && actions[layer] === 'drop';
  });
}

async function countAndFlag(deps: PipelineDeps, groups: Group[], blocks: { key: string; reason: string; ms: number }[]): Promise<string | null> {
  if (groups.length === 0) return null;
  if (!deps.redis) return 'redis_unconfigured';
  const commands = new IndexedPipeline(deps.redis.pipeline());
  const queued = groups.map((group) => queueGroup(commands, group));
  let results: unknown[];
  try {
    results = await withRedisDeadline(commands.pipeline.exec());
  } catch (error) {
    deps.redisDegradation?.record('bot_counters');
    console.warn(JSON.stringify({ level: 'warn', msg: 'bot_rate_layers_failed_open', groups: groups.length, error: String(error).slice(0, 300) }));
    return 'redis_unavailable';
  }
  for (const entry of queued) applyVerdicts(entry, results, { blocks });
  return null;
}

export const screenBotsStep: Step = {
  name: 'screen_bots',
  async run({ items, state, deps }) {
    const workspaceIds = [...new Set(items.flatMap((item) => (item.event ? [item.event.workspaceId] : [])))];
    if (workspaceIds.length === 0) return;
    const profiles = await deps.workspaces(workspaceIds);
    const blocks: { key: string; reason: string; ms: number }[] = [];
    const failedOpen = await countAndFlag(deps, groupsOf(items, profiles), blocks);
    state.botScreening = { failedOpen, sandboxed: blocks.length };
    if (blocks.length > 0) {
      state.redisWrites.push((pipeline) => {
        for (const block of blocks) pipeline.set(block.key, block.reason, { px: block.ms });
      });
    }
    const outcomes = new Map<PipelineItem, Outcome>();
    for (const item of items) {
      if (!item.event) continue;
      const dropping = droppingReasons(item.event, profiles.get(item.event.workspaceId)?.settings);
      if (dropping.length > 0) outcomes.set(item, drop(`bot:${dropping.join(' ')}`));
    }
    return outcomes;
  },
};
