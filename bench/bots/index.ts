/**
 * `npm run bench -- bots`: accuracy and cost of the layer-2 user-agent classifier
 * (workers/collect/bot-user-agent.ts) on labelled corpora.
 * - bots: every `instances` UA of crawler-user-agents must be flagged (goal >= 99 %), per its
 *   tags, with the category the tags imply; real browsers (all of top-user-agents, and a
 *   seeded weighted sample of user-agents' data file) must not be (goal <= 0.1 %).
 * - isbot alone on the same corpora, for comparison.
 * - the per-event cost, cold (every user agent new) and warm (the isolate cache hit).
 * Writes bench/results/bots.md (accuracy), bots-cost.md and bots-misses.md (every miss).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isbotMatch } from 'isbot';
import { z } from 'zod';
import { REPO_ROOT } from '../../dev/process';
import { createUserAgentClassifier, type BotCategory, type UserAgentVerdict } from '../../workers/collect/bot-user-agent';
import { formatTable, summarize, writeReport, type Row } from '../report';
import { seededRandom } from '../../dev/seeded-random';

const DETECTION_GOAL_PERCENT = 99;
const FALSE_POSITIVE_GOAL_PERCENT = 0.1;
const SAMPLE_SIZE = 20_000;
const SAMPLE_SEED = 0x6d6f6e66;
const COST_ROUNDS = 30;

/** The categories a crawler-user-agents tag implies (an entry with several tags accepts any of theirs). */
const EXPECTED_CATEGORIES: Readonly<Record<string, readonly BotCategory[]>> = {
  'ai-crawler': ['ai_agent'],
  'social-preview': ['link_preview'],
  monitoring: ['monitor'],
  'http-library': ['tool'],
  'browser-automation': ['headless', 'ai_agent'],
  'search-engine': ['crawler'],
  advertising: ['crawler'],
  'feed-reader': ['crawler'],
  archiver: ['crawler'],
  seo: ['crawler'],
  academic: ['crawler'],
  scanner: ['crawler', 'tool'],
};

const crawlerEntriesSchema = z.array(z.object({ pattern: z.string(), instances: z.array(z.string()), tags: z.array(z.string()).optional() }));
const topUserAgentsSchema = z.array(z.string());
const userAgentsDataSchema = z.array(z.object({ userAgent: z.string(), weight: z.number().nonnegative() }));

interface Positive {
  pattern: string;
  tags: readonly string[];
  userAgent: string;
}

interface Negative {
  corpus: string;
  userAgent: string;
}

const require = createRequire(import.meta.url);

/** A JSON file shipped next to a package's entry point (the packages' exports hide the paths). */
function readPackageJson(packageName: string, fileName: string): unknown {
  const file = fileName === '' ? require.resolve(packageName) : join(dirname(require.resolve(packageName)), fileName);
  return JSON.parse(readFileSync(file, 'utf8'));
}

function crawlerInstances(): Positive[] {
  const entries = crawlerEntriesSchema.parse(readPackageJson('crawler-user-agents', ''));
  return entries.flatMap(({ pattern, instances, tags }) => instances.map((userAgent) => ({ pattern, tags: tags ?? ['(untagged)'], userAgent })));
}

function topUserAgents(): string[] {
  return topUserAgentsSchema.parse(readPackageJson('top-user-agents', 'index.json'));
}

/** Draws by market-share weight, as the package's own `new UserAgent()` does, but from a seeded PRNG. */
function sampleUserAgents(size: number, seed: number): { sample: string[]; distinct: string[] } {
  const data = userAgentsDataSchema.parse(readPackageJson('user-agents', 'user-agents.json'));
  const cumulative: number[] = [];
  let total = 0;
  for (const { weight } of data) cumulative.push((total += weight));
  const random = seededRandom(seed);
  const sample: string[] = [];
  for (let i = 0; i < size; i++) {
    const target = random() * total;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((cumulative[mid] ?? total) > target) high = mid;
      else low = mid + 1;
    }
    const entry = data[low];
    if (entry !== undefined) sample.push(entry.userAgent);
  }
  return { sample, distinct: [...new Set(data.map(({ userAgent }) => userAgent))] };
}

const percent = (part: number, whole: number): number => (whole === 0 ? Number.NaN : (100 * part) / whole);

function categoryAgrees(verdict: UserAgentVerdict, tags: readonly string[]): boolean {
  return verdict.bot && tags.some((tag) => (EXPECTED_CATEGORIES[tag] ?? []).includes(verdict.category));
}

interface PositiveOutcome extends Positive {
  verdict: UserAgentVerdict;
  isbotFlags: boolean;
}

function positiveRow(label: string, outcomes: readonly PositiveOutcome[]): Row {
  const flagged = outcomes.filter(({ verdict }) => verdict.bot);
  return {
    corpus: 'crawler-user-agents',
    label,
    UAs: outcomes.length,
    flagged: flagged.length,
    'flagged %': percent(flagged.length, outcomes.length),
    'category agrees %': percent(flagged.filter(({ verdict, tags }) => categoryAgrees(verdict, tags)).length, flagged.length),
    'isbot alone %': percent(outcomes.filter(({ isbotFlags }) => isbotFlags).length, outcomes.length),
  };
}

function negativeRow(corpus: string, label: string, outcomes: readonly { verdict: UserAgentVerdict; isbotFlags: boolean }[]): Row {
  const flagged = outcomes.filter(({ verdict }) => verdict.bot).length;
  return {
    corpus,
    label,
    UAs: outcomes.length,
    flagged,
    'flagged %': percent(flagged, outcomes.length),
    'category agrees %': '',
    'isbot alone %': percent(outcomes.filter(({ isbotFlags }) => isbotFlags).length, outcomes.length),
  };
}

/**
 * Each call timed on its own: the cost of a verdict nobody has asked for yet. One untimed pass
 * first, so every row runs with its regular expressions compiled and its code optimised (the
 * isolate's first calls also pay that, once).
 */
function coldCostRow(scenario: string, userAgents: readonly string[], classify: (userAgent: string) => unknown): Row {
  for (const userAgent of userAgents) classify(userAgent);
  const samples: number[] = [];
  for (let round = 0; round < 3; round++) {
    for (const userAgent of userAgents) {
      const start = performance.now();
      classify(userAgent);
      samples.push((performance.now() - start) * 1000);
    }
  }
  const { n, p50, p99, mean } = summarize(samples);
  return { scenario, calls: n, 'µs/event mean': mean, 'µs p50': p50, 'µs p99': p99 };
}

/** Warm calls cost less than a timer read, so whole passes are timed and divided. */
function warmCostRow(scenario: string, userAgents: readonly string[], classify: (userAgent: string) => unknown): Row {
  for (const userAgent of userAgents) classify(userAgent);
  const repeats = Math.max(1, Math.ceil(20_000 / userAgents.length));
  const perEvent: number[] = [];
  for (let round = 0; round < COST_ROUNDS; round++) {
    const start = performance.now();
    for (let r = 0; r < repeats; r++) for (const userAgent of userAgents) classify(userAgent);
    perEvent.push(((performance.now() - start) * 1000) / (repeats * userAgents.length));
  }
  const { p50, p99, mean } = summarize(perEvent);
  return { scenario, calls: COST_ROUNDS * repeats * userAgents.length, 'µs/event mean': mean, 'µs p50': p50, 'µs p99': p99 };
}

function tagsOf(outcomes: readonly PositiveOutcome[]): string[] {
  return [...new Set(outcomes.flatMap(({ tags }) => tags))].sort();
}

function verdictText(verdict: UserAgentVerdict): string {
  return verdict.bot ? `${verdict.category}:${verdict.token}` : 'human';
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function missesMarkdown(falseNegatives: readonly PositiveOutcome[], falsePositives: readonly (Negative & { verdict: UserAgentVerdict })[], disagreements: readonly PositiveOutcome[]): string {
  const rowsOf = (header: string[], rows: string[][]): string =>
    rows.length === 0 ? '(none)\n' : [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)].join('\n') + '\n';
  return [
    '# Bot user agents: every miss',
    '',
    `${new Date().toISOString()}; generated by \`npm run bench -- bots\`.`,
    '',
    `## False negatives: crawler-user-agents instances not flagged (${falseNegatives.length})`,
    '',
    rowsOf(
      ['pattern', 'tags', 'user agent'],
      falseNegatives.map(({ pattern, tags, userAgent }) => [`\`${pattern}\``, tags.join(', '), userAgent]),
    ),
    `## False positives: real-browser user agents flagged (${falsePositives.length})`,
    '',
    rowsOf(
      ['corpus', 'verdict', 'user agent'],
      falsePositives.map(({ corpus, verdict, userAgent }) => [corpus, verdictText(verdict), userAgent]),
    ),
    `## Flagged, but not in the category the tags imply (${disagreements.length})`,
    '',
    rowsOf(
      ['pattern', 'tags', 'verdict', 'user agent'],
      disagreements.map(({ pattern, tags, verdict, userAgent }) => [`\`${pattern}\``, tags.join(', '), verdictText(verdict), userAgent]),
    ),
  ].join('\n');
}

export async function run(): Promise<void> {
  const classify = createUserAgentClassifier();
  const positives: PositiveOutcome[] = crawlerInstances().map((positive) => ({ ...positive, verdict: classify(positive.userAgent), isbotFlags: isbotMatch(positive.userAgent) !== null }));
  const top = topUserAgents();
  const { sample, distinct } = sampleUserAgents(SAMPLE_SIZE, SAMPLE_SEED);
  const judge = (corpus: string, userAgents: readonly string[]): (Negative & { verdict: UserAgentVerdict; isbotFlags: boolean })[] =>
    userAgents.map((userAgent) => ({ corpus, userAgent, verdict: classify(userAgent), isbotFlags: isbotMatch(userAgent) !== null }));
  const topOutcomes = judge('top-user-agents', top);
  const sampleOutcomes = judge('user-agents', sample);
  const distinctOutcomes = judge('user-agents', distinct);

  const accuracyRows: Row[] = [
    positiveRow('all instances', positives),
    ...tagsOf(positives).map((tag) => positiveRow(`tag: ${tag}`, positives.filter(({ tags }) => tags.includes(tag)))),
    negativeRow('top-user-agents', 'all', topOutcomes),
    negativeRow('user-agents', `seeded sample (${SAMPLE_SIZE} draws by weight)`, sampleOutcomes),
    negativeRow('user-agents', 'every distinct UA in the data file', distinctOutcomes),
  ];

  const categoryRows: Row[] = (['crawler', 'ai_agent', 'link_preview', 'monitor', 'tool', 'headless'] as const).map((category) => ({
    category,
    'crawler UAs given it': positives.filter(({ verdict }) => verdict.bot && verdict.category === category).length,
    'real-browser UAs given it': [...topOutcomes, ...sampleOutcomes].filter(({ verdict }) => verdict.bot && verdict.category === category).length,
  }));

  const falseNegatives = positives.filter(({ verdict }) => !verdict.bot);
  const falsePositives = [...topOutcomes, ...distinctOutcomes].filter(({ verdict }) => verdict.bot);
  const disagreements = positives.filter(({ verdict, tags }) => verdict.bot && !categoryAgrees(verdict, tags));
  const detection = percent(positives.length - falseNegatives.length, positives.length);
  const negativesFlagged = [...topOutcomes, ...sampleOutcomes].filter(({ verdict }) => verdict.bot).length;
  const falsePositiveRate = percent(negativesFlagged, topOutcomes.length + sampleOutcomes.length);

  writeReport('bots', 'Bot user agents (layer 2): detection and false positives', accuracyRows, [
    `detection ${detection.toFixed(2)} % of crawler UAs (goal >= ${DETECTION_GOAL_PERCENT} %): ${detection >= DETECTION_GOAL_PERCENT ? 'met' : 'NOT met'}`,
    `false positives ${falsePositiveRate.toFixed(3)} % of real-browser UAs, top-user-agents plus the sample (goal <= ${FALSE_POSITIVE_GOAL_PERCENT} %): ${falsePositiveRate <= FALSE_POSITIVE_GOAL_PERCENT ? 'met' : 'NOT met'}`,
    `an instance counts under each of its entry's tags; "category agrees" is among flagged UAs, per EXPECTED_CATEGORIES in bench/bots/index.ts`,
    `user-agents sample: ${SAMPLE_SIZE} weighted draws from its data file with mulberry32 seed ${SAMPLE_SEED} (${new Set(sample).size} distinct UAs)`,
    `verdicts by category:\n\n${formatTable(categoryRows)}\n`,
    `every miss (${falseNegatives.length} false negatives, ${falsePositives.length} false positives, ${disagreements.length} category disagreements): bench/results/bots-misses.md`,
  ]);

  const humans = [...new Set([...top, ...distinct])];
  const crawlers = [...new Set(positives.map(({ userAgent }) => userAgent))];
  const noCache = createUserAgentClassifier(0);
  const warm = createUserAgentClassifier();
  writeReport(
    'bots-cost',
    'Bot user agents (layer 2): cost per event',
    [
      coldCostRow(`cold: real-browser UAs (${humans.length} distinct), no cache`, humans, noCache),
      coldCostRow(`cold: crawler UAs (${crawlers.length} distinct), no cache`, crawlers, noCache),
      coldCostRow('isbot alone: real-browser UAs', humans, isbotMatch),
      coldCostRow('isbot alone: crawler UAs', crawlers, isbotMatch),
      warmCostRow(`warm: top-user-agents (${top.length}), isolate cache hit`, top, warm),
      warmCostRow(`warm: user-agents sample (${SAMPLE_SIZE} events, ${new Set(sample).size} distinct UAs), bounded cache`, sample, warm),
    ],
    [
      'cold rows time each call (timer overhead, about 0.05 µs, included); warm rows time whole passes and divide',
      'cold is what the first event of a new user agent pays in an isolate; warm is what every later event of a batch or a returning visitor pays',
    ],
  );

  writeFileSync(join(REPO_ROOT, 'bench', 'results', 'bots-misses.md'), missesMarkdown(falseNegatives, falsePositives, disagreements));
  console.log(`\nevery miss: bench/results/bots-misses.md`);
}
