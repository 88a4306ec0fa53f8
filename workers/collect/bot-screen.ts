/**
 * Bot screening at the edge. Flagged events are still accepted and stored with their
 * reason (excluded downstream from segments, analytics and billing), never dropped here.
 * Layer 1: automation signals the browser SDK observed (`context.automation`).
 * Layer 2: the end user's user agent: `isbot` patterns, and on browser traffic a missing one
 * (every real browser sends one). Which user agent is the end user's is decided by
 * enrichment (traffic.ts): on server traffic only a forwarded `context.userAgent`, and none
 * at all means no verdict.
 */
import { isbotMatch } from 'isbot';
import type { CollectedEvent, EventSource, JsonObject } from '../../schema/event';

const MAX_SIGNALS = 10;
const SIGNAL_PATTERN = /^[a-z0-9_.-]{1,40}$/i;
const MAX_REASON_TOKEN_LENGTH = 40;
const TOKEN_CHAR = /[A-Za-z0-9_.-]/;

/** The SDK's signal names (e.g. `webdriver`, `headless_ua`); anything else is ignored, not echoed. */
export function automationSignals(context: JsonObject): string[] {
  const signals = context.automation;
  if (!Array.isArray(signals)) return [];
  return signals.filter((signal): signal is string => typeof signal === 'string' && SIGNAL_PATTERN.test(signal)).slice(0, MAX_SIGNALS);
}

/**
 * The product token of the user agent around isbot's match, lower case, so a reason reads
 * `user_agent:googlebot` or `user_agent:chatgpt-user` rather than the bare fragment the
 * pattern matched ("Google", "bot"). Stops at the `/` before a version.
 */
export function matchedToken(userAgent: string, match: string): string {
  const fallback = match.toLowerCase().replace(/[^a-z0-9_.-]/g, '');
  let start = userAgent.indexOf(match);
  let token = '';
  if (start >= 0) {
    let end = start;
    while (start > 0 && TOKEN_CHAR.test(userAgent.charAt(start - 1))) start--;
    while (end < userAgent.length && TOKEN_CHAR.test(userAgent.charAt(end))) end++;
    token = userAgent.slice(start, end).replace(/[._-]+$/, '').toLowerCase();
  }
  return (token || fallback).slice(0, MAX_REASON_TOKEN_LENGTH) || 'pattern';
}

/**
 * isbot is a pure function of the user agent and a large regex (~3 µs a call), so verdicts
 * are kept per isolate: a browser batch shares one user agent and a busy isolate sees the
 * same few again and again. Bounded; cleared when full rather than tracking recency.
 */
const MAX_CACHED_VERDICTS = 1024;
const verdicts = new Map<string, string | null>();

/** The reason token for a bot user agent, or null for a human one. */
export function botUserAgentToken(userAgent: string): string | null {
  let verdict = verdicts.get(userAgent);
  if (verdict === undefined) {
    const match = isbotMatch(userAgent);
    verdict = match === null ? null : matchedToken(userAgent, match);
    if (verdicts.size >= MAX_CACHED_VERDICTS) verdicts.clear();
    verdicts.set(userAgent, verdict);
  }
  return verdict;
}

export interface BotScreenInput {
  context: JsonObject;
  source: EventSource;
  /** The end user's user agent as enrichment resolved it (request header on browser traffic, forwarded on server traffic). */
  userAgent: string | null;
  /** Whether the request itself carried a non-empty User-Agent header (only meaningful on browser traffic). */
  requestHasUserAgent: boolean;
}

export type BotScreen = (input: BotScreenInput) => CollectedEvent['bot'];

export function createBotScreen(): BotScreen {
  return ({ context, source, userAgent, requestHasUserAgent }) => {
    const signals = automationSignals(context);
    if (signals.length > 0) return { flagged: true, reason: `sdk_automation:${signals.join(',')}` };
    if (source === 'browser' && !requestHasUserAgent) return { flagged: true, reason: 'ua_missing' };
    const token = userAgent === null ? null : botUserAgentToken(userAgent);
    if (token !== null) return { flagged: true, reason: `user_agent:${token}` };
    return { flagged: false, reason: null };
  };
}
