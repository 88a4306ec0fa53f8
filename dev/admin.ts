/**
 * `npm run admin -- <command>`: operator CLI for a running Monfri Worker. Talks HTTP to
 * MONFRI_URL (default http://127.0.0.1:8787) with OPERATOR_TOKEN from the environment or,
 * for local runs, from .data/dev.vars (written by `npm run dev`).
 *
 *   workspace create --name N [--plan starter|growth|scale]
 *   workspace list
 *   keys list --workspace W
 *   keys create --workspace W --kind write|secret [--origins a,b] [--label L]
 *   keys rotate KEYID [--grace SECONDS]
 *   keys revoke KEYID
 *   dlq list [--workspace W] [--all]
 *   dlq replay [--workspace W]
 *   replay --workspace W --from ISO --to ISO
 *   segment list --workspace W
 *   segment create --workspace W --file segment.json   ({name, description?, condition, shards?})
 *   segment update SEGID --workspace W --file patch.json
 *   segment show|members|delete SEGID --workspace W [--after PERSON --limit N]
 *   segment verify SEGID --workspace W      (recompute from ClickHouse; exit 3 on a difference)
 *   trait list --workspace W
 *   trait create --workspace W --file trait.json   ({name, kind, event, property?, withinDays?})
 *   trait delete NAME --workspace W
 *   plan import --workspace W --file plan.json   (a Segment plan in any shape, or Monfri's model; prints the import report)
 *   plan show|versions --workspace W
 *   plan export --workspace W [--format config-api|public-api] [--out plan.json]
 *   plan codegen --workspace W --out tracking-plan.ts   (typed wrappers around the SDK's track)
 *   plan settings --workspace W [--unplanned allow|flag|block] [--violations allow|flag|block] [--flagged-in-segments true|false]
 *   plan draft --workspace W [--out plan.json]   (a plan describing what was received; import it to adopt it)
 *   webhook list --workspace W
 *   webhook create --workspace W --url U [--events a,b] [--types track,identify] [--segments S1,S2]
 *                  [--usage-threshold] [--include-bots] [--description D]   (or --file webhook.json)
 *   webhook update WHID --workspace W [the create flags] [--enabled true|false]   (or --file patch.json)
 *   webhook show|delete|test|rotate-secret WHID --workspace W
 *   webhook deliveries WHID --workspace W [--limit N] [--before ID]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateTypedClient } from '../lib/tracking-plans/codegen';
import { trackingPlanSchema } from '../schema/tracking-plan';
import { DATA_DIR } from './process';

export class CliError extends Error {}

export interface ParsedArgs {
  words: string[];
  flags: Map<string, string>;
}

/** `a b --name x --all` -> words [a, b], flags {name: x, all: 'true'}. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const words: string[] = [];
  const flags = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (!arg.startsWith('--')) {
      words.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const next = argv[index + 1];
    if (inline !== undefined) flags.set(name ?? '', inline);
    else if (next !== undefined && !next.startsWith('--')) {
      flags.set(name ?? '', next);
      index++;
    } else flags.set(name ?? '', 'true');
  }
  return { words, flags };
}

/** Reads NAME="value" lines (values JSON-quoted, as dev/run.ts writes them). */
export function readDevVars(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match?.[1] || match[2] === undefined) continue;
    const raw = match[2];
    try {
      const value: unknown = JSON.parse(raw);
      vars[match[1]] = typeof value === 'string' ? value : raw;
    } catch {
      vars[match[1]] = raw;
    }
  }
  return vars;
}

export interface CliConfig {
  url: string;
  token: string;
}

export function cliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const url = (env.MONFRI_URL ?? 'http://127.0.0.1:8787').replace(/\/$/, '');
  const token = env.OPERATOR_TOKEN || readDevVars(join(DATA_DIR, 'dev.vars')).OPERATOR_TOKEN;
  if (!token) throw new CliError('no operator token: set OPERATOR_TOKEN, or start `npm run dev` (it writes .data/dev.vars)');
  return { url, token };
}

async function request(config: CliConfig, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${config.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${config.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new CliError(`cannot reach ${config.url} (${String(error)}); is the Worker running (npm run dev)? set MONFRI_URL otherwise`);
  }
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // Non-JSON answers are shown as they are.
  }
  if (!response.ok) throw new CliError(`${method} ${path} -> ${response.status}: ${typeof json === 'string' ? json : JSON.stringify(json)}`);
  return json;
}

function required(args: ParsedArgs, name: string): string {
  const value = args.flags.get(name);
  if (!value || value === 'true') throw new CliError(`--${name} is required`);
  return value;
}

function positional(args: ParsedArgs, index: number, what: string): string {
  const value = args.words[index];
  if (!value) throw new CliError(`${what} is required`);
  return value;
}

function isoDate(value: string, flag: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`--${flag} must be an ISO-8601 date (got ${value})`);
  return new Date(ms).toISOString();
}

const enc = encodeURIComponent;

function jsonFile(args: ParsedArgs): unknown {
  const path = required(args, 'file');
  if (!existsSync(path)) throw new CliError(`--file ${path} does not exist`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`--file ${path} is not JSON: ${String(error)}`);
  }
}

const PLAN_ACTIONS = ['allow', 'flag', 'block'];

function planSettingsPatch(args: ParsedArgs): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [flag, field] of [['unplanned', 'unplanned'], ['violations', 'violations']] as const) {
    const value = args.flags.get(flag);
    if (value === undefined) continue;
    if (!PLAN_ACTIONS.includes(value)) throw new CliError(`--${flag} must be allow, flag or block`);
    patch[field] = value;
  }
  const inSegments = args.flags.get('flagged-in-segments');
  if (inSegments !== undefined) {
    if (inSegments !== 'true' && inSegments !== 'false') throw new CliError('--flagged-in-segments must be true or false');
    patch['flaggedInSegments'] = inSegments === 'true';
  }
  return { trackingPlan: patch };
}

/** Writes JSON (or text) to --out when given, and answers what was written; else answers the value itself. */
function output(args: ParsedArgs, value: unknown): unknown {
  const out = args.flags.get('out');
  if (!out || out === 'true') return value;
  writeFileSync(out, typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`);
  return { written: out };
}

async function planCodegen(config: CliConfig, args: ParsedArgs, workspace: string): Promise<unknown> {
  const out = required(args, 'out');
  const answer = await request(config, 'GET', `/admin/workspaces/${enc(workspace)}/tracking-plan`);
  const stored = typeof answer === 'object' && answer !== null && 'trackingPlan' in answer && typeof answer.trackingPlan === 'object' && answer.trackingPlan !== null && 'plan' in answer.trackingPlan ? answer.trackingPlan.plan : null;
  const plan = trackingPlanSchema.safeParse(stored);
  if (!plan.success) throw new CliError(`the Worker answered a plan this CLI cannot read: ${plan.error.issues[0]?.message ?? 'unknown shape'}`);
  writeFileSync(out, generateTypedClient(plan.data));
  return { written: out, plan: plan.data.name, version: plan.data.version ?? null, events: new Set(plan.data.events.map((event) => event.name)).size };
}

const list = (value: string): string[] => value.split(',').map((item) => item.trim()).filter((item) => item !== '');

/** A webhook body from flags (only those given, so an update changes only them), or --file. */
export function webhookBody(args: ParsedArgs): Record<string, unknown> {
  if (args.flags.has('file')) return jsonFile(args) as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  const text = (flag: string, field: string): void => {
    const value = args.flags.get(flag);
    if (value !== undefined) body[field] = value;
  };
  const names = (flag: string): void => {
    const value = args.flags.get(flag);
    if (value !== undefined) body[flag] = list(value);
  };
  const boolean = (flag: string, field: string): void => {
    const value = args.flags.get(flag);
    if (value === undefined) return;
    if (value !== 'true' && value !== 'false') throw new CliError(`--${flag} takes true or false`);
    body[field] = value === 'true';
  };
  text('url', 'url');
  text('description', 'description');
  names('events');
  names('types');
  names('segments');
  boolean('usage-threshold', 'usageThreshold');
  boolean('include-bots', 'includeBots');
  boolean('enabled', 'enabled');
  return body;
}

/** A verification that found a difference: printed, and the CLI exits 3 so scripts notice. */
export class VerifyDifference extends Error {
  constructor(readonly result: unknown) {
    super('the live state differs from the recomputation');
  }
}

export async function runCommand(argv: readonly string[], config: CliConfig): Promise<unknown> {
  const args = parseArgs(argv);
  const command = args.words.slice(0, 2).join(' ');
  const workspace = (): string => required(args, 'workspace');
  switch (command) {
    case 'workspace create':
      return request(config, 'POST', '/admin/workspaces', { name: required(args, 'name'), ...(args.flags.has('plan') ? { plan: args.flags.get('plan') } : {}) });
    case 'workspace list':
      return request(config, 'GET', '/admin/workspaces');
    case 'keys list':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/keys`);
    case 'keys create': {
      const kind = required(args, 'kind');
      if (kind !== 'write' && kind !== 'secret') throw new CliError('--kind must be write or secret');
      const origins = args.flags.get('origins');
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/keys`, {
        kind,
        label: args.flags.get('label') ?? '',
        allowedOrigins: origins ? origins.split(',').map((origin) => origin.trim()).filter(Boolean) : [],
      });
    }
    case 'keys rotate': {
      const grace = Number(args.flags.get('grace') ?? '0');
      if (!Number.isInteger(grace) || grace < 0) throw new CliError('--grace must be a whole number of seconds');
      return request(config, 'POST', `/admin/keys/${enc(positional(args, 2, 'KEYID'))}/rotate`, { graceSeconds: grace });
    }
    case 'keys revoke':
      return request(config, 'POST', `/admin/keys/${enc(positional(args, 2, 'KEYID'))}/revoke`, {});
    case 'dlq list': {
      const params = new URLSearchParams({ pending: args.flags.has('all') ? 'false' : 'true' });
      if (args.flags.has('workspace')) params.set('workspace', workspace());
      return request(config, 'GET', `/admin/dead-letters?${params}`);
    }
    case 'dlq replay':
      return request(config, 'POST', '/admin/dead-letters/replay', args.flags.has('workspace') ? { workspaceId: workspace() } : {});
    case 'segment list':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/segments`);
    case 'segment create':
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/segments`, jsonFile(args));
    case 'segment update':
      return request(config, 'PATCH', `/admin/workspaces/${enc(workspace())}/segments/${enc(positional(args, 2, 'SEGID'))}`, jsonFile(args));
    case 'segment show':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/segments/${enc(positional(args, 2, 'SEGID'))}`);
    case 'segment delete':
      return request(config, 'DELETE', `/admin/workspaces/${enc(workspace())}/segments/${enc(positional(args, 2, 'SEGID'))}`);
    case 'segment members': {
      const params = new URLSearchParams({ limit: args.flags.get('limit') ?? '100' });
      if (args.flags.has('after')) params.set('after', required(args, 'after'));
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/segments/${enc(positional(args, 2, 'SEGID'))}/members?${params}`);
    }
    case 'segment verify': {
      const result = await request(config, 'GET', `/admin/workspaces/${enc(workspace())}/segments/${enc(positional(args, 2, 'SEGID'))}/verify`);
      if (typeof result === 'object' && result !== null && 'difference' in result && result.difference !== 0) throw new VerifyDifference(result);
      return result;
    }
    case 'trait list':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/computed-traits`);
    case 'trait create':
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/computed-traits`, jsonFile(args));
    case 'trait delete':
      return request(config, 'DELETE', `/admin/workspaces/${enc(workspace())}/computed-traits/${enc(positional(args, 2, 'NAME'))}`);
    case 'plan import':
      return request(config, 'PUT', `/admin/workspaces/${enc(workspace())}/tracking-plan`, jsonFile(args));
    case 'plan show':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/tracking-plan`);
    case 'plan versions':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/tracking-plan/versions`);
    case 'plan export': {
      const format = args.flags.get('format') ?? 'public-api';
      if (format !== 'config-api' && format !== 'public-api') throw new CliError('--format must be config-api or public-api');
      return output(args, await request(config, 'GET', `/admin/workspaces/${enc(workspace())}/tracking-plan/export?format=${format}`));
    }
    case 'plan codegen':
      return planCodegen(config, args, workspace());
    case 'plan settings':
      return request(config, 'PATCH', `/admin/workspaces/${enc(workspace())}/settings`, planSettingsPatch(args));
    case 'plan draft':
      return output(args, await request(config, 'GET', `/admin/workspaces/${enc(workspace())}/schema/draft-plan`));
    case 'webhook list':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/webhooks`);
    case 'webhook create':
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/webhooks`, webhookBody(args));
    case 'webhook update':
      return request(config, 'PATCH', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}`, webhookBody(args));
    case 'webhook show':
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}`);
    case 'webhook delete':
      return request(config, 'DELETE', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}`);
    case 'webhook test':
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}/test`);
    case 'webhook rotate-secret':
      return request(config, 'POST', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}/rotate-secret`);
    case 'webhook deliveries': {
      const params = new URLSearchParams();
      for (const flag of ['limit', 'before']) {
        const value = args.flags.get(flag);
        if (value !== undefined) params.set(flag, value);
      }
      return request(config, 'GET', `/admin/workspaces/${enc(workspace())}/webhooks/${enc(positional(args, 2, 'WHID'))}/deliveries?${params}`);
    }
    default:
      if (args.words[0] === 'replay') {
        return request(config, 'POST', '/admin/replay', { workspaceId: workspace(), from: isoDate(required(args, 'from'), 'from'), to: isoDate(required(args, 'to'), 'to') });
      }
      throw new CliError(`unknown command: ${args.words.join(' ') || '(none)'}\nsee the header of dev/admin.ts for the commands`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const result = await runCommand(process.argv.slice(2), cliConfig());
    console.log(JSON.stringify(result, null, 2));
  } catch (error) {
    if (error instanceof VerifyDifference) {
      console.log(JSON.stringify(error.result, null, 2));
      console.error(`✗ ${error.message}`);
      process.exit(3);
    }
    console.error(`✗ ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof CliError ? 2 : 1);
  }
}
