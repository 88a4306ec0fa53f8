/**
 * Machine-readable reasons the edge gives when it refuses a request or one event in it.
 * Clients (and the dashboard) switch on these codes; the messages are for humans.
 */

/** Reasons that refuse the whole request (answered as `{error: {code, message, details}}`). */
export const REQUEST_REJECTIONS = {
  empty_body: 'The request body is empty.',
  invalid_json: 'The request body is not valid JSON.',
  unsupported_media_type: 'Send JSON as application/json, text/plain, application/x-www-form-urlencoded or without a content type.',
  unsupported_content_encoding: 'Content-Encoding must be gzip, deflate or identity.',
  unsupported_charset: 'JSON must be sent as UTF-8 (ISO-8859-1 is also understood).',
  invalid_compressed_body: 'The body could not be decompressed with its Content-Encoding.',
  request_too_large: 'The request body is larger than the request limit.',
  too_many_events: 'The batch holds more events than the batch limit.',
  invalid_batch: 'The body must be an object with a `batch` array of events.',
  empty_batch: 'The batch holds no events.',
  no_events_accepted: 'No event in the request was accepted; see `rejected`.',
  method_not_allowed: 'This route only accepts POST (and OPTIONS for CORS preflight).',
  missing_key: 'Send a write key (Basic username or `writeKey` in the body) or a secret key (Basic or Bearer).',
  invalid_key: 'This API key is not valid.',
  revoked_key: 'This API key has been revoked.',
  wrong_key_kind: 'This route does not accept this kind of key.',
  origin_not_allowed: 'This write key is not allowed from this Origin.',
  queue_unavailable: 'Events could not be handed off; retry later (messageId makes retries safe).',
  rate_limited: 'This key sends more requests than its ingestion quota allows; nothing of this request was accepted. Retry after Retry-After seconds.',
} as const;
export type RequestRejectionCode = keyof typeof REQUEST_REJECTIONS;

/** Reasons that refuse one event; in a batch its siblings are still accepted. */
export const EVENT_REJECTIONS = {
  not_an_object: 'The event must be a JSON object.',
  unknown_type: 'The event `type` must be one of track, identify, page, screen, group, alias.',
  type_mismatch: 'The event `type` does not match the route it was sent to.',
  missing_field: 'A required field is missing.',
  invalid_field: 'A field has the wrong type or is out of bounds.',
  missing_identity: 'The event needs a userId or an anonymousId.',
  event_too_large: 'The event is larger than the per-event limit.',
  too_deep: 'The event nests objects or arrays deeper than the nesting limit.',
  unplanned_event: 'The workspace\'s tracking plan does not list this event, and it blocks unplanned events.',
  plan_violation: 'The event breaks the workspace\'s tracking plan, which blocks violations.',
  suppressed_identity: 'This userId or anonymousId belongs to a deleted person; the workspace refuses their events.',
} as const;
export type EventRejectionCode = keyof typeof EVENT_REJECTIONS;

/** One refused event in a batch response. */
export interface EventRejection {
  index: number;
  messageId: string | null;
  code: EventRejectionCode;
  message: string;
  /** Dotted path of the offending field ('' for the event as a whole). */
  path: string;
  /** For `plan_violation`: every rule the event broke (which key, which rule). */
  violations?: PlanViolationReason[];
}

/** One broken tracking-plan rule: where (from the message root), which JSON Schema keyword, and why. */
export interface PlanViolationReason {
  path: string;
  rule: string;
  message: string;
}

/** The answer to `/v1/batch` and `/v1/collect`. */
export interface BatchResult {
  success: boolean;
  accepted: number;
  rejected: EventRejection[];
  error?: { code: RequestRejectionCode; message: string };
}

/** The answer to a single-event route that accepted its event. */
export interface SingleResult {
  success: true;
  messageId: string;
}
