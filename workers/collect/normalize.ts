/** Edge-assigned facts: messageId, receivedAt, the skew-corrected timestamp, sessionId. */
import { LIMITS, type CollectedEvent, type IncomingEvent, type JsonObject } from '../../schema/event';

export interface EventTimes {
  timestamp: string;
  originalTimestamp: string | null;
  sentAt: string | null;
  timestampAdjustment: CollectedEvent['timestampAdjustment'];
}

function millis(value: string | null | undefined): number | null {
  if (value == null) return null;
  const parsed = Date.parse(value);
  return Number.isFinite(parsed) ? parsed : null;
}

export interface TimeCorrector {
  /** receivedAt as ISO-8601. */
  receivedAt: string;
  correct(event: Pick<IncomingEvent, 'timestamp' | 'originalTimestamp' | 'sentAt'>): EventTimes;
}

/**
 * Client clocks are wrong by minutes to years. With `sentAt` (device clock at send time)
 * the device's offset is known, so the event time becomes `receivedAt - (sentAt - device
 * event time)`. Without `sentAt` an explicit `timestamp` is taken as given (historical
 * imports). Out-of-bounds results are clamped to receivedAt rather than rejected: the event
 * did happen (we just received it), a broken device clock is not fixed by retrying, and the
 * client's value stays in `originalTimestamp` for audit.
 * One corrector per request: parsing and formatting dates is most of the per-event build
 * cost, so receivedAt is formatted once, and a `sentAt` shared by the batch (the SDK and
 * analytics-node send one per batch) is parsed and formatted once.
 */
export function createTimeCorrector(receivedAt: number): TimeCorrector {
  const receivedIso = new Date(receivedAt).toISOString();
  const isoOf = (ms: number): string => (ms === receivedAt ? receivedIso : new Date(ms).toISOString());
  // The last sentAt seen and its parsed/formatted forms; the initial state is "no sentAt".
  let sentAtText: string | null | undefined;
  let sentAtMs: number | null = null;
  let sentAtIso: string | null = null;
  return {
    receivedAt: receivedIso,
    correct(event) {
      if (event.sentAt !== sentAtText) {
        sentAtText = event.sentAt;
        sentAtMs = millis(event.sentAt);
        sentAtIso = sentAtMs === null ? null : isoOf(sentAtMs);
      }
      const deviceTime = millis(event.originalTimestamp) ?? millis(event.timestamp);
      let timestamp = receivedAt;
      if (deviceTime !== null) timestamp = sentAtMs !== null ? receivedAt - (sentAtMs - deviceTime) : deviceTime;
      let timestampAdjustment: EventTimes['timestampAdjustment'] = null;
      if (timestamp > receivedAt + LIMITS.maxFutureSkewMs) {
        timestamp = receivedAt;
        timestampAdjustment = 'clamped_future';
      } else if (timestamp < receivedAt - LIMITS.maxPastAgeMs) {
        timestamp = receivedAt;
        timestampAdjustment = 'clamped_past';
      }
      return { timestamp: isoOf(timestamp), originalTimestamp: deviceTime === null ? null : isoOf(deviceTime), sentAt: sentAtIso, timestampAdjustment };
    },
  };
}

export function assignMessageId(event: Pick<IncomingEvent, 'messageId'>): string {
  return event.messageId ?? crypto.randomUUID();
}

/** Sessions come from the SDK (string) or from Amplitude-style clients (epoch number). */
export function sessionIdFrom(context: JsonObject): string | null {
  const value = context.sessionId;
  if (typeof value === 'string' && value !== '') return value.slice(0, LIMITS.maxIdLength);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}
