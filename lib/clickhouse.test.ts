import { describe, expect, it } from 'vitest';
import { CLUSTER_INSERT_SETTINGS, clusterName, clusterNodesSql, insertRetryingQuorum, nodeProbeSql, type ClickHouseClient } from './clickhouse';

/** A client whose insert answers from a script: an error text per attempt, or null for success. */
function scriptedClient(answers: (string | null)[]): { client: ClickHouseClient; attempts: () => number } {
  let attempts = 0;
  const client = {
    insert: async () => {
      const answer = answers[attempts++];
      if (answer) throw new Error(answer);
      return { executed: true, query_id: 'q' };
    },
  } as unknown as ClickHouseClient;
  return { client, attempts: () => attempts };
}

const noWait = async (): Promise<void> => {};
const QUORUM_BUSY = 'Code: 286, e.displayText() = DB::Exception: Another quorum insert has been already started.';
const params = { table: 'events', format: 'JSONEachRow', values: [{ a: 1 }] } as const;

describe('cluster mode settings', () => {
  it('is off for an empty or absent name, and refuses a name that is not an identifier', () => {
    expect(clusterName({})).toBeNull();
    expect(clusterName({ CLICKHOUSE_CLUSTER: ' ' })).toBeNull();
    expect(clusterName({ CLICKHOUSE_CLUSTER: 'monfri' })).toBe('monfri');
    expect(() => clusterName({ CLICKHOUSE_CLUSTER: "x'; DROP" })).toThrow(TypeError);
  });

  it('acks an insert only once two replicas of every shard it reached hold it, and ClickHouse answers before the consumer gives up', () => {
    expect(CLUSTER_INSERT_SETTINGS).toMatchObject({ insert_distributed_sync: 1, insert_quorum: '2' });
    expect(CLUSTER_INSERT_SETTINGS.insert_quorum_timeout).toBeLessThan(10_000);
  });

  it('escapes the cluster name and node address it puts in SQL', () => {
    expect(clusterNodesSql("a'b")).toContain("cluster = 'a\\'b'");
    expect(nodeProbeSql({ host_name: "h'", port: 9000 })).toContain("remote('h\\':9000', system.one)");
  });
});

describe('insertRetryingQuorum', () => {
  it('retries in place while another quorum insert holds the table, then succeeds', async () => {
    const { client, attempts } = scriptedClient([QUORUM_BUSY, QUORUM_BUSY, null]);
    await insertRetryingQuorum(client, params, noWait);
    expect(attempts()).toBe(3);
  });

  it('gives up after a bounded number of attempts (a replica down keeps answering 286) and passes the error on', async () => {
    const { client, attempts } = scriptedClient(Array.from({ length: 20 }, () => QUORUM_BUSY));
    await expect(insertRetryingQuorum(client, params, noWait)).rejects.toThrow('Code: 286');
    expect(attempts()).toBe(6);
  });

  it('does not retry other errors: a quorum timeout (319) or refused data goes to the caller at once', async () => {
    for (const answer of ['Code: 319, e.displayText() = DB::Exception: Unknown status, client must retry.', 'Code: 27. DB::Exception: Cannot parse input (CANNOT_PARSE_INPUT_ASSERTION_FAILED)']) {
      const { client, attempts } = scriptedClient([answer, null]);
      await expect(insertRetryingQuorum(client, params, noWait)).rejects.toThrow(answer.slice(0, 8));
      expect(attempts()).toBe(1);
    }
  });
});
