/**
 * Bot screening at the edge. Flagged events are still accepted and stored with their
 * reason (excluded downstream from segments, analytics and billing), never dropped here.
 * Layer 1: automation signals the browser SDK observed (`context.automation`).
 * Layer 2: `isbot` on the end user's user agent.
 */
import { isbot } from 'isbot';
import type { CollectedEvent, JsonObject } from '../../schema/event';

const MAX_SIGNALS = 10;
const SIGNAL_PATTERN = /^[a-z0-9_.-]{1,40}$/i;

/** The SDK's signal names (e.g. `webdriver`, `headless_ua`); anything else is ignored, not echoed. */
export function automationSignals(context: JsonObject): string[] {
  const signals = context.automation;
  if (!Array.isArray(signals)) return [];
  return signals.filter((signal): signal is string => typeof signal === 'string' && SIGNAL_PATTERN.test(signal)).slice(0, MAX_SIGNALS);
}

export type BotScreen = (context: JsonObject, userAgent: string | null) => CollectedEvent['bot'];

/**
 * isbot is a pure function of the user agent and a large regex (~3 µs a call), so verdicts
 * are kept per isolate: a browser batch shares one user agent and a busy isolate sees the
 * same few again and again. Bounded; cleared when full rather than tracking recency.
 */
const MAX_CACHED_VERDICTS = 1024;
const verdicts = new Map<string, boolean>();

function isBotUserAgent(userAgent: string): boolean {
  let verdict = verdicts.get(userAgent);
  if (verdict === undefined) {
    verdict = isbot(userAgent);
    if (verdicts.size >= MAX_CACHED_VERDICTS) verdicts.clear();
    verdicts.set(userAgent, verdict);
  }
  return verdict;
}

/**
 * `userAgent` is the end user's as resolved by enrichment: for server events only a
 * forwarded `context.userAgent`, never the server's own request UA (a backend's HTTP
 * library would otherwise flag every server event as a bot).
 */
export function createBotScreen(): BotScreen {
  return (context, userAgent) => {
    const signals = automationSignals(context);
    if (signals.length > 0) return { flagged: true, reason: `sdk_automation:${signals.join(',')}` };
    if (userAgent !== null && isBotUserAgent(userAgent)) return { flagged: true, reason: 'user_agent' };
    return { flagged: false, reason: null };
  };
}
