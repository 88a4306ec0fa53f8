/** Control-plane shapes shared by the admin API, the admin CLI and the key store. */
import { z } from 'zod';
import type { WorkspaceSettings } from './workspace-settings';

export const PLANS = ['starter', 'growth', 'scale'] as const;
export type Plan = (typeof PLANS)[number];
export const KEY_KINDS = ['write', 'secret'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

export const originSchema = z
  .string()
  .max(255)
  .refine((value) => {
    try {
      return new URL(value).origin === value;
    } catch {
      return false;
    }
  }, 'must be an origin like https://shop.example.com');

export const createWorkspaceSchema = z.object({
  name: z.string().trim().min(1).max(100),
  /** A plan chosen at creation; without one the workspace starts its 14-day Growth trial (schema/plans.ts). */
  plan: z.enum(PLANS).optional(),
  anonymizeIp: z.boolean().default(false),
});

export const updateWorkspaceSchema = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    plan: z.enum(PLANS).optional(),
    anonymizeIp: z.boolean().optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'nothing to update');

export const createKeySchema = z.object({
  kind: z.enum(KEY_KINDS),
  label: z.string().max(100).default(''),
  allowedOrigins: z.array(originSchema).max(50).default([]),
});

export const rotateKeySchema = z.object({
  /** Seconds the old key keeps working, so deployed clients can switch over. */
  graceSeconds: z.number().int().min(0).max(7 * 24 * 3600).default(0),
});

export const updateKeySchema = z.object({
  allowedOrigins: z.array(originSchema).max(50),
});

export interface Workspace {
  id: string;
  name: string;
  /** The last plan chosen (or the trial's); the plan in effect at a given time is schema/plans.ts `planAt`. */
  plan: Plan;
  anonymizeIp: boolean;
  createdAt: string;
  trialEndsAt: string | null;
  settings: WorkspaceSettings;
}

export interface ApiKeyInfo {
  id: string;
  workspaceId: string;
  kind: KeyKind;
  prefix: string;
  label: string;
  allowedOrigins: string[];
  createdAt: string;
  revokedAt: string | null;
}

/** What the hot path knows about a presented key once it is resolved. */
export interface ResolvedKey {
  keyId: string;
  kind: KeyKind;
  allowedOrigins: string[];
  workspace: Workspace;
}
