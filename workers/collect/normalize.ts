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

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * Client clocks are wrong by minutes to years. With `sentAt` (device clock at send time)
 * the device's offset is known, so the event time becomes `receivedAt - (sentAt - device
 * event time)`. Without `sentAt` an explicit `timestamp` is taken as given (historical
 * imports). Out-of-bounds results are clamped to receivedAt rather than rejected: the event
 * did happen (we just received it), a broken device clock is not fixed by retrying, and the
 * client's value stays in `originalTimestamp` for audit.
 */
export function correctTimes(event: Pick<IncomingEvent, 'timestamp' | 'originalTimestamp' | 'sentAt'>, receivedAt: number): EventTimes {
  const sentAt = millis(event.sentAt);
  const deviceTime = millis(event.originalTimestamp) ?? millis(event.timestamp);
  let timestamp = receivedAt;
  if (deviceTime !== null) timestamp = sentAt !== null ? receivedAt - (sentAt - deviceTime) : deviceTime;
  let timestampAdjustment: EventTimes['timestampAdjustment'] = null;
  if (timestamp > receivedAt + LIMITS.maxFutureSkewMs) {
    timestamp = receivedAt;
    timestampAdjustment = 'clamped_future';
  } else if (timestamp < receivedAt - LIMITS.maxPastAgeMs) {
    timestamp = receivedAt;
    timestampAdjustment = 'clamped_past';
  }
  return { timestamp: new Date(timestamp).toISOString(), originalTimestamp: iso(deviceTime), sentAt: iso(sentAt), timestampAdjustment };
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
