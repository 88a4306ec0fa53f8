/**
 * Bot screening at the edge: layers 1 and 2 (layers 3 and 4 need counts shared across
 * requests and run in the events consumer: consumers/events/steps/screen-bots.ts). Flagged
 * events are still accepted and stored with their reasons (excluded downstream from segments,
 * analytics and billing), never dropped here; a workspace's `drop` choice is applied by the
 * consumer, which also applies the allow-list to layers 3 and 4.
 * Layer 1: automation signals the browser SDK observed (`context.automation`).
 * Layer 2: the end user's user agent (bot-user-agent.ts), and on browser traffic a missing one
 * (every real browser sends one). Which user agent is the end user's is decided by
 * enrichment (traffic.ts): on server traffic only a forwarded `context.userAgent`, and none
 * at all means no verdict.
 */
import type { BotAllowlist } from '../../lib/bot-allowlist';
import type { CollectedEvent, EventSource, JsonObject } from '../../schema/event';
import { classifyUserAgent } from './bot-user-agent';

const MAX_SIGNALS = 10;
const SIGNAL_PATTERN = /^[a-z0-9_.-]{1,40}$/i;

/** The SDK's signal names (e.g. `webdriver`, `headless_ua`); anything else is ignored, not echoed. */
export function automationSignals(context: JsonObject): string[] {
  const signals = context.automation;
  if (!Array.isArray(signals)) return [];
  return signals.filter((signal): signal is string => typeof signal === 'string' && SIGNAL_PATTERN.test(signal)).slice(0, MAX_SIGNALS);
}

export interface BotScreenInput {
  context: JsonObject;
  source: EventSource;
  /** The end user's user agent as enrichment resolved it (request header on browser traffic, forwarded on server traffic). */
  userAgent: string | null;
  /** Whether the request itself carried a non-empty User-Agent header (only meaningful on browser traffic). */
  requestHasUserAgent: boolean;
  /** The end user's IP as enrichment resolved it. */
  ip: string | null;
  /** The workspace's allow-list: what it matches is never flagged. */
  allowlist: BotAllowlist;
}

export type BotScreen = (input: BotScreenInput) => CollectedEvent['bot'];

const HUMAN: CollectedEvent['bot'] = { flagged: false, reason: null };

/** Every layer that fires adds its reason (space-separated), so an event says all of why it was flagged. */
export function createBotScreen(): BotScreen {
  return ({ context, source, userAgent, requestHasUserAgent, ip, allowlist }) => {
    if (allowlist.allows(ip, userAgent)) return HUMAN;
    const reasons: string[] = [];
    const signals = automationSignals(context);
    if (signals.length > 0) reasons.push(`sdk_automation:${signals.join(',')}`);
    if (source === 'browser' && !requestHasUserAgent) reasons.push('ua_missing');
    else {
      const verdict = userAgent === null ? null : classifyUserAgent(userAgent);
      if (verdict?.bot) reasons.push(`user_agent:${verdict.token}`);
    }
    return reasons.length > 0 ? { flagged: true, reason: reasons.join(' ') } : HUMAN;
  };
}
