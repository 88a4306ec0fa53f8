/**
 * The collect pipeline for one request's events, as small named steps:
 * validate -> suppression check -> normalise -> enrich -> bot-screen -> contract check -> plan check -> serialise.
 * Pure apart from `crypto.randomUUID`: the route does the I/O (auth, queue, stream).
 */
import { botAllowlist } from '../../lib/bot-allowlist';
import { LIMITS, type CollectedEvent, type EventType, type IncomingEvent, type JsonObject } from '../../schema/event';
import { EVENT_REJECTIONS, type EventRejection } from '../../schema/rejections';
import type { Sender } from './authenticate';
import { createBotScreen, type BotScreen } from './bot-screen';
import { geoFrom, libraryFrom, resolveGeo, resolveIp, resolveUserAgent, scrubContext, type RequestFacts } from './enrich';
import { serializeEvent, type SerializedEvent } from './handoff';
import type { BlockedEvent } from './plan-blocked';
import type { PlanScreen } from './plan-screen';
import { isSuppressed, type SuppressionScreen } from './suppression-screen';
import { assignMessageId, createTimeCorrector, sessionIdFrom } from './normalize';
import { eventSource, type RequestTraffic } from './traffic';
import { clientMessageId, refuse, validateEvent, type BatchDefaults, type Refusal } from './validate';

export interface IngestInput {
  events: readonly unknown[];
  defaults: BatchDefaults;
  /** Set on single-event routes (`/v1/track` ...), where the route names the type. */
  routeType: EventType | null;
  sender: Sender;
  /** Browser or server traffic, as far as the request decides it (traffic.ts). */
  traffic: RequestTraffic;
  facts: RequestFacts;
  receivedAt: number;
  /** The workspace's tracking plan check (plan-screen.ts); absent or null when it has no plan. */
  planScreen?: PlanScreen | null;
  /** The workspace's suppression list (suppression-screen.ts); absent or null when it has none. */
  suppression?: SuppressionScreen | null;
}

export interface IngestResult {
  accepted: SerializedEvent[];
  rejected: EventRejection[];
  /** Events of suppressed persons dropped on purpose (answered as accepted, stored nowhere). */
  suppressed: number;
  /** Events the tracking plan refused (also in `rejected`), as built, with what the plan said: for the live feed and the blocked counts. */
  blocked: BlockedEvent[];
}

function eventName(event: IncomingEvent): string | null {
  if (event.type === 'track') return event.event;
  if (event.type === 'page' || event.type === 'screen') return event.name ?? null;
  return null;
}

/** Page/screen `category` has no column of its own; it is kept as a property unless one is set. */
function propertiesOf(event: IncomingEvent): JsonObject {
  if (event.type === 'track') return event.properties ?? {};
  if (event.type === 'page' || event.type === 'screen') {
    const properties = event.properties ?? {};
    return event.category && properties.category === undefined ? { ...properties, category: event.category } : properties;
  }
  return {};
}

function traitsOf(event: IncomingEvent): JsonObject {
  return event.type === 'identify' || event.type === 'group' ? (event.traits ?? {}) : {};
}

export type EventBuilder = (event: IncomingEvent) => CollectedEvent;

/** Builds the events of one request; what they all share (times, geo, user agent verdicts) is worked out once. */
export function createEventBuilder(sender: Sender, traffic: RequestTraffic, facts: RequestFacts, receivedAt: number, screenBot: BotScreen = createBotScreen()): EventBuilder {
  const anonymize = sender.key.workspace.anonymizeIp;
  const allowlist = botAllowlist(sender.key.workspace.settings.bots);
  const times = createTimeCorrector(receivedAt);
  const requestGeo = geoFrom(facts.cf);
  return (event) => {
    const rawContext = event.context ?? {};
    const source = eventSource(traffic, rawContext);
    const userAgent = resolveUserAgent(source, facts, rawContext);
    const ip = resolveIp(source, facts, rawContext, anonymize);
    const corrected = times.correct(event);
    return {
      v: 1,
      workspaceId: sender.key.workspace.id,
      messageId: assignMessageId(event),
      type: event.type,
      event: eventName(event),
      userId: event.userId ?? null,
      anonymousId: event.anonymousId ?? null,
      groupId: event.type === 'group' ? event.groupId : null,
      previousId: event.type === 'alias' ? event.previousId : null,
      properties: propertiesOf(event),
      traits: traitsOf(event),
      context: scrubContext(rawContext, anonymize),
      integrations: event.integrations ?? {},
      timestamp: corrected.timestamp,
      originalTimestamp: corrected.originalTimestamp,
      sentAt: corrected.sentAt,
      timestampAdjustment: corrected.timestampAdjustment,
      receivedAt: times.receivedAt,
      source,
      ip,
      userAgent,
      geo: resolveGeo(source, requestGeo, rawContext),
      library: libraryFrom(rawContext),
      sessionId: sessionIdFrom(rawContext),
      bot: screenBot({ context: rawContext, source, userAgent, requestHasUserAgent: facts.userAgent !== null, ip, allowlist }),
    };
  };
}

type Processed = { ok: true; item: SerializedEvent } | { ok: false; refusal: Refusal; blocked?: CollectedEvent } | { ok: 'suppressed' };

/**
 * The queue contract (`collectedEventSchema`, which consumers apply) beyond what the
 * `CollectedEvent` type already pins down: the builder assembles typed fields from validated
 * input, the JSON-object fields come from `JSON.parse`, and the time fields are `toISOString()`
 * output (it throws rather than yield an unparseable date). That leaves these bounds. A full
 * zod pass here cost ~5 µs per event (jitless, as in workerd); test/workers/collect-contract.test.ts
 * checks the builder against the full schema under random input instead.
 */
export function contractViolation(event: CollectedEvent): string | null {
  if (event.workspaceId === '') return 'workspaceId';
  if (event.messageId === '' || event.messageId.length > LIMITS.maxMessageIdLength) return 'messageId';
  return null;
}

export function processEvent(raw: unknown, input: Pick<IngestInput, 'defaults' | 'routeType' | 'planScreen' | 'suppression'>, build: EventBuilder): Processed {
  const validated = validateEvent(raw, input.defaults, input.routeType);
  if (!validated.ok) return validated;
  if (isSuppressed(input.suppression, validated.event)) {
    if (input.suppression?.action === 'refuse') return { ok: false, refusal: { code: 'suppressed_identity', message: EVENT_REJECTIONS.suppressed_identity, path: '' } };
    return { ok: 'suppressed' };
  }
  const built = build(validated.event);
  // The queue contract is checked here, so a consumer never sees a message it must reject.
  const broken = contractViolation(built);
  if (broken) return { ok: false, refusal: { code: 'invalid_field', message: `The event could not be normalised (${broken}).`, path: broken } };
  const verdict = input.planScreen ? input.planScreen(built) : null;
  if (verdict?.kind === 'block') return { ok: false, refusal: verdict.refusal, blocked: { ...built, plan: verdict.plan } };
  if (verdict?.kind === 'store') built.plan = verdict.plan;
  const item = serializeEvent(built);
  // The per-event limit applies to the event as queued and stored, enrichment included;
  // measuring the JSON we serialise anyway saves a second stringify per event.
  if (item.bytes > LIMITS.maxEventBytes) return refuse('event_too_large', '', `(${LIMITS.maxEventBytes} bytes)`);
  return { ok: true, item };
}

export function ingest(input: IngestInput): IngestResult {
  const accepted: SerializedEvent[] = [];
  const rejected: EventRejection[] = [];
  const blocked: BlockedEvent[] = [];
  let suppressed = 0;
  const build = createEventBuilder(input.sender, input.traffic, input.facts, input.receivedAt);
  input.events.forEach((raw, index) => {
    const processed = processEvent(raw, input, build);
    if (processed.ok === 'suppressed') suppressed++;
    else if (processed.ok) accepted.push(processed.item);
    else {
      rejected.push({ index, messageId: clientMessageId(raw), ...processed.refusal });
      if (processed.blocked) blocked.push({ event: processed.blocked, code: processed.refusal.code });
    }
  });
  return { accepted, rejected, suppressed, blocked };
}
