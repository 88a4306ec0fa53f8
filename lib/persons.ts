/**
 * Read-time identity resolution: which person an id belongs to, and every identity of
 * that person (following alias chains), so "events by person" includes what the person
 * did while anonymous, even though those rows were stored with the anonymous person_id.
 */
import { z } from 'zod';
import type { ClickHouseClient } from './clickhouse';
import { anonymousKey, identitiesOfPersonsQuery, lookupIdentitiesQuery, queryRows, uint64, userKey, type PersonMatch } from './event-queries';

const MAX_HOPS = 4;

export interface PersonIdentity {
  key: string;
  kind: 'user' | 'anonymous';
  id: string;
  source: string;
  messageId: string;
  linkedAt: string;
}

export interface ResolvedPerson {
  personId: string;
  identities: PersonIdentity[];
  match: PersonMatch;
}

const identityRow = z.object({ identity_key: z.string(), person_id: z.string(), source: z.string(), message_id: z.string(), linked_at_ms: uint64 });

/** `user:42` / `anonymous:abc` are person ids already; a bare id is taken as a user id. */
export function identityKeyOf(id: string, kind?: 'user' | 'anonymous'): string {
  if (kind === 'user') return userKey(id);
  if (kind === 'anonymous') return anonymousKey(id);
  return id.startsWith('user:') || id.startsWith('anonymous:') ? id : userKey(id);
}

function splitKey(key: string): { kind: 'user' | 'anonymous'; id: string } | null {
  if (key.startsWith('user:')) return { kind: 'user', id: key.slice('user:'.length) };
  if (key.startsWith('anonymous:')) return { kind: 'anonymous', id: key.slice('anonymous:'.length) };
  return null;
}

async function rootPerson(client: ClickHouseClient, workspaceId: string, key: string): Promise<string> {
  let person = key;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const rows = await queryRows(client, lookupIdentitiesQuery(workspaceId, [person]), z.object({ identity_key: z.string(), person_id: z.string() }));
    const next = rows[0]?.person_id;
    if (!next || next === person) break;
    person = next;
  }
  return person;
}

export async function resolvePerson(client: ClickHouseClient, workspaceId: string, key: string): Promise<ResolvedPerson> {
  const personId = await rootPerson(client, workspaceId, key);
  const identities: PersonIdentity[] = [];
  const personIds = new Set([personId]);
  let frontier = [personId];
  for (let hop = 0; hop < MAX_HOPS && frontier.length > 0; hop++) {
    const rows = await queryRows(client, identitiesOfPersonsQuery(workspaceId, frontier), identityRow);
    frontier = [];
    for (const row of rows) {
      const split = splitKey(row.identity_key);
      if (!split || personIds.has(row.identity_key)) continue;
      personIds.add(row.identity_key);
      frontier.push(row.identity_key);
      identities.push({ key: row.identity_key, ...split, source: row.source, messageId: row.message_id, linkedAt: new Date(row.linked_at_ms).toISOString() });
    }
  }
  const root = splitKey(personId);
  const all = [...personIds].map(splitKey).filter((value) => value !== null);
  return {
    personId,
    identities: root ? [{ key: personId, ...root, source: 'root', messageId: '', linkedAt: '' }, ...identities] : identities,
    match: {
      personIds: [...personIds],
      userIds: all.filter((entry) => entry.kind === 'user').map((entry) => entry.id),
      anonymousIds: all.filter((entry) => entry.kind === 'anonymous').map((entry) => entry.id),
    },
  };
}
