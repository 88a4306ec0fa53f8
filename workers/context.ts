import type { ResolvedKey } from '../schema/control-plane';
import type { KeyStore } from './auth/key-store';
import type { PlanStore } from './collect/plan-screen';
import type { SuppressionStore } from './collect/suppression-screen';

/** Who is calling an admin route: the operator (all workspaces) or one workspace's secret key. */
export type AdminActor = { kind: 'operator' } | { kind: 'workspace'; workspaceId: string };

export interface AppVariables {
  requestId: string;
  apiKey: ResolvedKey;
  adminActor: AdminActor;
  keyStore: KeyStore;
  planStore: PlanStore;
  suppressionStore: SuppressionStore;
}

export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}
