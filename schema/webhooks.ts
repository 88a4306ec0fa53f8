/**
 * Webhook subscriptions: what an endpoint receives and the queue message of one delivery.
 * A subscription matches an event when any of its filters does: the event's name (`events`),
 * its Segment `type` (`types`), `Segment Entered`/`Segment Exited` for one of `segments`, or
 * `usage.threshold` (`usageThreshold`). Bot-flagged events only with `includeBots`.
 */
import { z } from 'zod';

export const MAX_WEBHOOKS_PER_WORKSPACE = 20;
export const EVENT_TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;

export const webhookFilterSchema = z.strictObject({
  events: z.array(z.string().min(1).max(200)).max(100).default([]),
  types: z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length).default([]),
  segments: z.array(z.string().min(1).max(100)).max(100).default([]),
  usageThreshold: z.boolean().default(false),
});
export type WebhookFilter = z.output<typeof webhookFilterSchema>;

const filterFields = {
  events: webhookFilterSchema.shape.events,
  types: webhookFilterSchema.shape.types,
  segments: webhookFilterSchema.shape.segments,
  usageThreshold: webhookFilterSchema.shape.usageThreshold,
};

export const webhookInputSchema = z
  .strictObject({
    url: z.string().min(1).max(2048),
    description: z.string().max(500).default(''),
    includeBots: z.boolean().default(false),
    enabled: z.boolean().default(true),
    ...filterFields,
  })
  .refine((input) => input.events.length + input.types.length + input.segments.length > 0 || input.usageThreshold, {
    message: 'Choose at least one of events, types, segments or usageThreshold: a subscription that matches nothing would never fire.',
    path: ['events'],
  });
export type WebhookInput = z.output<typeof webhookInputSchema>;

/** A patch: any field; `enabled: true` re-enables a disabled subscription and clears why it was. */
export const webhookPatchSchema = z.strictObject({
  url: z.string().min(1).max(2048).optional(),
  description: z.string().max(500).optional(),
  includeBots: z.boolean().optional(),
  enabled: z.boolean().optional(),
  events: filterFields.events.removeDefault().optional(),
  types: filterFields.types.removeDefault().optional(),
  segments: filterFields.segments.removeDefault().optional(),
  usageThreshold: z.boolean().optional(),
});
export type WebhookPatch = z.output<typeof webhookPatchSchema>;

/** What a consumer needs to match events to a subscription (cached with the workspace profile). */
export interface ActiveWebhook {
  id: string;
  filter: WebhookFilter;
  includeBots: boolean;
}

/** One delivery on the `monfri-webhooks` queue: a (subscription, event) pair, re-enqueued per retry. */
export const webhookDeliverySchema = z.object({
  kind: z.literal('webhook_delivery'),
  workspaceId: z.string().min(1),
  subscriptionId: z.string().min(1),
  /** The `webhook-id` header: the same on every attempt, so receivers can dedupe. */
  webhookId: z.string().min(1).max(200),
  /** The event's own messageId (dead letters are indexed by it). */
  messageId: z.string().max(600),
  event: z.string().max(200),
  /** The JSON body, exactly as signed and sent. */
  body: z.string(),
  /** Attempts already made (0 for a new delivery). */
  attempts: z.number().int().min(0),
  /** When the first attempt was made; null before it (or after a dead-letter replay, which starts a new window). */
  firstAttemptAtMs: z.number().int().nullable(),
});
export type WebhookDelivery = z.output<typeof webhookDeliverySchema>;

/** One delivery attempt as `GET /v1/webhooks/:id/deliveries` shows it (the API and the dashboard share it). */
export interface DeliveryLogView {
  id: number;
  webhookId: string;
  event: string;
  attempt: number;
  outcome: string;
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  responseSnippet: string | null;
  createdAt: string;
}
