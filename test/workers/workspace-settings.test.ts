/** Workspace settings in D1 through the admin API: defaults, partial updates, validation, who may change them. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKSPACE_SETTINGS, parseWorkspaceSettings } from '../../schema/workspace-settings';
import { bearer, call, createTestWorkspace, OPERATOR } from './support';

describe('workspace settings', () => {
  it('start as the defaults, merge a partial update key by key, and keep what was not sent', async () => {
    const ws = await createTestWorkspace('settings');
    const initial = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { headers: OPERATOR });
    expect(await initial.json()).toEqual({ settings: DEFAULT_WORKSPACE_SETTINGS });
    const first = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: bearer(ws.secretKey), json: { bots: { ipRate: { eventsPerMinute: 500 }, allowIps: ['10.0.0.0/8'] } } });
    expect(first.status).toBe(200);
    const second = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: OPERATOR, json: { bots: { ipRate: { action: 'drop' } } } });
    const { settings } = await second.json<{ settings: typeof DEFAULT_WORKSPACE_SETTINGS }>();
    expect(settings.bots.ipRate).toEqual({ eventsPerMinute: 500, cooldownSeconds: DEFAULT_WORKSPACE_SETTINGS.bots.ipRate.cooldownSeconds, action: 'drop' });
    expect(settings.bots.allowIps).toEqual(['10.0.0.0/8']);
    expect(settings.bots.burst).toEqual(DEFAULT_WORKSPACE_SETTINGS.bots.burst);
  });

  it('refuses values out of bounds or of the wrong kind with a 400 that names the field', async () => {
    const ws = await createTestWorkspace('settings validation');
    for (const patch of [{ bots: { ipRate: { eventsPerMinute: 1 } } }, { bots: { allowIps: ['not-an-ip'] } }, { bots: { burst: { action: 'explode' } } }]) {
      const response = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: OPERATOR, json: patch });
      expect(response.status).toBe(400);
      const body = await response.json<{ error: { code: string; details: { path: string }[] } }>();
      expect(body.error.code).toBe('invalid_body');
      expect(body.error.details[0]?.path).toMatch(/^bots\./);
    }
  });

  it("a workspace's secret key cannot read or change another workspace's settings; a write key cannot change any", async () => {
    const [mine, theirs] = await Promise.all([createTestWorkspace('mine'), createTestWorkspace('theirs')]);
    const read = await call(`/admin/workspaces/${theirs.workspaceId}/settings`, { headers: bearer(mine.secretKey) });
    const write = await call(`/admin/workspaces/${theirs.workspaceId}/settings`, { method: 'PATCH', headers: bearer(mine.secretKey), json: { bots: { allowIps: ['0.0.0.0/0'] } } });
    const withWriteKey = await call(`/admin/workspaces/${mine.workspaceId}/settings`, { method: 'PATCH', headers: bearer(mine.writeKey), json: { bots: { allowIps: ['0.0.0.0/0'] } } });
    expect([read.status, write.status, withWriteKey.status]).toEqual([404, 404, 403]);
    const unchanged = await call(`/admin/workspaces/${theirs.workspaceId}/settings`, { headers: OPERATOR });
    expect((await unchanged.json<{ settings: typeof DEFAULT_WORKSPACE_SETTINGS }>()).settings.bots.allowIps).toEqual([]);
  });

  it('a stored document that no longer parses falls back to the defaults, and says so', () => {
    expect(parseWorkspaceSettings('{"bots":{"ipRate":{"eventsPerMinute":"lots"}}}')).toEqual({ settings: DEFAULT_WORKSPACE_SETTINGS, valid: false });
    expect(parseWorkspaceSettings('not json')).toEqual({ settings: DEFAULT_WORKSPACE_SETTINGS, valid: false });
    expect(parseWorkspaceSettings('{}')).toEqual({ settings: DEFAULT_WORKSPACE_SETTINGS, valid: true });
  });
});
