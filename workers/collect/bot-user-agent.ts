/**
 * Layer 2 of bot screening: is the END USER's user agent a bot, which kind, and which product.
 *
 * - isbot's pattern decides most of it (search and SEO crawlers, HTTP libraries, headless
 *   browsers, monitors, most AI crawlers and link-preview fetchers).
 * - KNOWN_AGENTS names the AI agents, link-preview fetchers and monitors we must always catch
 *   with a canonical token and category, including a few isbot does not know (GTmetrix, Yellow
 *   Lab Tools, AI coding editors' Electron page fetchers).
 * - In-app browsers are people: where isbot trips on an app's own segment of a real browser's
 *   user agent (Alipay's `ws:360|0|2.0`, WeChat's `Process/tools`, a Google TV model name),
 *   that fragment is excused and the rest of the user agent still decides.
 * - The token is the product around isbot's fragment (`googlebot`, not `google`), skipping
 *   fragments inside the bot's contact URL or e-mail (`+https://…` says nothing about who).
 *
 * Pure in the user agent, so verdicts are cached per isolate (bounded). Only the first
 * kilobyte is read and at most 32 fragments are looked at, so a hostile user agent costs
 * tens of microseconds at worst.
 */
import { getPattern } from 'isbot';

export type BotCategory = 'crawler' | 'ai_agent' | 'link_preview' | 'monitor' | 'tool' | 'headless';
export type UserAgentVerdict = { bot: false } | { bot: true; category: BotCategory; token: string };

const HUMAN: UserAgentVerdict = Object.freeze({ bot: false });
const MAX_TOKEN_LENGTH = 40;

interface KnownAgent {
  /** Matched case-insensitively as a whole product token. */
  name: string;
  category: BotCategory;
  /** Defaults to the name in lower case. */
  token?: string;
}

const KNOWN_AGENTS: readonly KnownAgent[] = [
  // AI crawlers and assistants fetching for a user.
  { name: 'GPTBot', category: 'ai_agent' },
  { name: 'ChatGPT-User', category: 'ai_agent' },
  { name: 'OAI-SearchBot', category: 'ai_agent' },
  { name: 'ClaudeBot', category: 'ai_agent' },
  { name: 'Claude-User', category: 'ai_agent' },
  { name: 'Claude-SearchBot', category: 'ai_agent' },
  { name: 'Claude-Web', category: 'ai_agent' },
  { name: 'anthropic-ai', category: 'ai_agent' },
  { name: 'claude-code', category: 'ai_agent' },
  { name: 'PerplexityBot', category: 'ai_agent' },
  { name: 'Perplexity-User', category: 'ai_agent' },
  { name: 'CCBot', category: 'ai_agent' },
  { name: 'Bytespider', category: 'ai_agent' },
  { name: 'TikTokSpider', category: 'ai_agent' },
  { name: 'Google-Extended', category: 'ai_agent' },
  { name: 'Google-CloudVertexBot', category: 'ai_agent' },
  { name: 'Gemini-Deep-Research', category: 'ai_agent' },
  { name: 'Google-NotebookLM', category: 'ai_agent' },
  { name: 'Google-Agent', category: 'ai_agent' },
  { name: 'GoogleAgent-Mariner', category: 'ai_agent' },
  { name: 'Applebot-Extended', category: 'ai_agent' },
  { name: 'Amazonbot', category: 'ai_agent' },
  { name: 'Amzn-SearchBot', category: 'ai_agent' },
  { name: 'Amzn-User', category: 'ai_agent' },
  { name: 'NovaAct', category: 'ai_agent' },
  { name: 'meta-externalagent', category: 'ai_agent' },
  { name: 'meta-externalfetcher', category: 'ai_agent' },
  { name: 'FacebookBot', category: 'ai_agent' },
  { name: 'cohere-ai', category: 'ai_agent' },
  { name: 'cohere-training-data-crawler', category: 'ai_agent' },
  { name: 'MistralAI-User', category: 'ai_agent' },
  { name: 'DuckAssistBot', category: 'ai_agent' },
  { name: 'DeepSeekBot', category: 'ai_agent' },
  { name: 'YouBot', category: 'ai_agent' },
  { name: 'PhindBot', category: 'ai_agent' },
  { name: 'Diffbot', category: 'ai_agent' },
  { name: 'AI2Bot', category: 'ai_agent' },
  { name: 'Timpibot', category: 'ai_agent' },
  { name: 'ImagesiftBot', category: 'ai_agent' },
  { name: 'FirecrawlAgent', category: 'ai_agent' },
  { name: 'TavilyBot', category: 'ai_agent' },
  { name: 'Manus-User', category: 'ai_agent' },
  { name: 'Devin', category: 'ai_agent' },
  { name: 'AmazonBuyForMe', category: 'ai_agent' },
  { name: 'Amazon-Bedrock-AgentCore-Browser', category: 'ai_agent' },
  { name: 'Google-Gemini-CLI', category: 'ai_agent' },
  { name: 'TSM-turingos', category: 'ai_agent' },
  // Link previews: chat and social apps unfurling a shared link.
  { name: 'facebookexternalhit', category: 'link_preview' },
  { name: 'Meta-ExternalHit', category: 'link_preview' },
  { name: 'Facebot', category: 'link_preview' },
  { name: 'Twitterbot', category: 'link_preview' },
  { name: 'Slackbot-LinkExpanding', category: 'link_preview' },
  { name: 'Slackbot', category: 'link_preview' },
  { name: 'Slack-ImgProxy', category: 'link_preview' },
  { name: 'Discordbot', category: 'link_preview' },
  { name: 'LinkedInBot', category: 'link_preview' },
  { name: 'TelegramBot', category: 'link_preview' },
  { name: 'Pinterestbot', category: 'link_preview' },
  { name: 'SkypeUriPreview', category: 'link_preview' },
  { name: 'Embedly', category: 'link_preview' },
  { name: 'Iframely', category: 'link_preview' },
  { name: 'redditbot', category: 'link_preview' },
  { name: 'vkShare', category: 'link_preview' },
  { name: 'Snap URL Preview Service', category: 'link_preview', token: 'snap-url-preview' },
  { name: 'SnapURLPreview', category: 'link_preview', token: 'snap-url-preview' },
  { name: 'BingPreview', category: 'link_preview' },
  { name: 'MicrosoftPreview', category: 'link_preview' },
  { name: 'Bluesky Cardyb', category: 'link_preview', token: 'bluesky-cardyb' },
  { name: 'BlueskyPreviewBot', category: 'link_preview' },
  { name: 'Mastodon', category: 'link_preview' },
  { name: 'Google Web Preview', category: 'link_preview', token: 'google-web-preview' },
  // Monitoring and performance tools that load pages in a real browser engine.
  { name: 'GTmetrix', category: 'monitor' },
  { name: 'Chrome-Lighthouse', category: 'monitor' },
  { name: 'UptimeRobot', category: 'monitor' },
  { name: 'Site24x7', category: 'monitor' },
  { name: 'StatusCake', category: 'monitor' },
  { name: 'Pingdom', category: 'monitor' },
  { name: 'SpeedCurve', category: 'monitor' },
  // Automated browsers and DOM emulators that run the page's scripts.
  { name: 'HeadlessChrome', category: 'headless' },
  { name: 'PhantomJS', category: 'headless' },
  { name: 'SlimerJS', category: 'headless' },
  { name: 'Puppeteer', category: 'headless' },
  { name: 'Playwright', category: 'headless' },
  { name: 'Nightmare', category: 'headless' },
  { name: 'jsdom', category: 'headless' },
  { name: 'Zombie.js', category: 'headless', token: 'zombie' },
  // Scripting tools isbot does not know.
  { name: 'WindowsPowerShell', category: 'tool', token: 'powershell' },
  { name: 'PowerShell', category: 'tool' },
  // Crawlers isbot does not know.
  { name: 'Miniature.io', category: 'crawler' },
];

/** Known agents whose name alone would be ambiguous: they need their context. */
interface KnownAgentShape {
  pattern: RegExp;
  category: BotCategory;
  token: string;
}

const KNOWN_AGENT_SHAPES: readonly KnownAgentShape[] = [
  // The preview fetcher's whole UA is `WhatsApp/2.23.20.0 A`; the app itself opens links in the phone's browser.
  { pattern: /^WhatsApp(?:\/|$)/i, category: 'link_preview', token: 'whatsapp' },
  // Pinterest's preview fetcher leads with `Pinterest/0.2`; the app's in-app browser appends `[Pinterest/iOS]`.
  { pattern: /^Pinterest\/0\./i, category: 'link_preview', token: 'pinterest' },
  // AI coding editors fetch pages for their agents in a hidden Electron window (GitHub Copilot in VS Code, Cursor, Trae).
  { pattern: /(?<![\w.-])Code\/\d[\d.]* Chrome\/[\d.]+ Electron\//, category: 'ai_agent', token: 'vscode' },
  { pattern: /(?<![\w.-])Cursor\/\d[\d.]* Chrome\/[\d.]+ Electron\//, category: 'ai_agent', token: 'cursor' },
  { pattern: /(?<![\w.-])Trae\/\d[\d.]* Chrome\/[\d.]+ Electron\//, category: 'ai_agent', token: 'trae' },
  // Dart's (and so Flutter's) HTTP client.
  { pattern: /^Dart\/[\d.]+ \(dart:io\)/, category: 'tool', token: 'dart' },
  // Yellow Lab Tools puts its name before the browser product.
  { pattern: /\bYLT Chrome\//, category: 'monitor', token: 'yellowlabtools' },
];

/** An app segment of a real browser's user agent that isbot's pattern trips on. */
interface ExcusedSegment {
  /** The app is present in the user agent. */
  marker: RegExp;
  /** Where in the user agent its own fragments sit (global). */
  segment: RegExp;
}

const EXCUSED_SEGMENTS: readonly ExcusedSegment[] = [
  // Alipay reports its screen metrics as `AlipayDefined(nt:WIFI,ws:360|0|2.0)`; isbot flags any `|`.
  { marker: /AlipayDefined\(/, segment: /AlipayDefined\([^)]*\)/g },
  // WeChat on Android names its web process, most often `Process/tools`; isbot flags `tools`.
  { marker: /MicroMessenger\//, segment: /\bProcess\/\w+/g },
  // Sogou's mobile browser (people), not the Sogou spider (which always says `spider`).
  { marker: /SogouMobileBrowser|SogouMSE/, segment: /\bSogou(?:MobileBrowser|MSE)\b/g },
  // Device names: Google TV sets and Nexus phones; isbot excuses `Google Pixel` but not these.
  { marker: /Google ?TV|Google Nexus/, segment: /\bGoogle ?TV\b|\bGoogle Nexus\b/g },
  // A desktop browser on Windows Server names the OS edition; isbot flags `server`.
  { marker: /\(Windows Server /, segment: /\(Windows Server [^;)]*/g },
  // Facebook, Messenger and Instagram in-app browsers: their bracketed or parenthesised app details.
  { marker: /\[FB(?:AN|_IAB)\//, segment: /\[FB[^\]]*\]/g },
  { marker: /\bInstagram \d/, segment: /\bInstagram [\d.]+(?: [A-Za-z]+)? \([^)]*\)/g },
  // Threads' in-app browser goes by its code name.
  { marker: /\bBarcelona \d/, segment: /\bBarcelona [\d.]+ \([^)]*\)/g },
  { marker: /\[LinkedInApp\]/, segment: /\[LinkedInApp\](?:\/[\d.]+)?/g },
  { marker: /\bSnapchat\//, segment: /\bSnapchat\/[\d.]+(?: \([^)]*\))?/g },
  { marker: /\[Pinterest\//, segment: /\[Pinterest\/\w+\]/g },
  { marker: /BytedanceWebview|musical_ly|\btrill_|\baweme/, segment: /\b(?:musical_ly|trill|aweme)_\S+|\bBytedanceWebview\/\S+|\b(?:AppName|Channel|RevealType)\/\S+/g },
];

/** Real browsers are `Mozilla/5.0 (platform) engine`; only their app segments can be excused. */
const BROWSER_SHAPE = /^Mozilla\/5\.0 \([^)]*\) (?:AppleWebKit|Gecko)\//;

/** Tokens that say "a bot" but not which one; a better one is looked for first. */
const GENERIC_TOKENS: ReadonlySet<string> = new Set([
  ...['', 'http', 'https', 'www', 'com', 'mozilla', 'compatible', 'url', 'bot', 'bots', 'spider', 'crawler', 'crawl', 'agent', 'browser', 'client', 'server'],
  ...['monitor', 'check', 'checker', 'feed', 'rss', 'tools', 'proxy', 'scan', 'web', 'search', 'preview', 'download', 'library', 'parser', 'validator', 'archive'],
]);
/** A bot's URL or e-mail. The e-mail starts at a word's start only, so a long run of letters without an `@` costs linear time, not quadratic. */
const CONTACT_SPAN = /\b(?:https?:\/\/|www\.)[^\s;)]*|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+/gi;
/** A bot's self-introduction, up to four words (`compatible; Known Agent/1.0`, `Tiny Tiny RSS/1.15`), never its URL. */
const NAME = String.raw`[A-Za-z][\w.!-]*(?: (?![Hh]ttps?:|Mozilla\/)[A-Za-z][\w.!-]*){0,3}`;
const COMPATIBLE_NAME = new RegExp(String.raw`\bcompatible;[\s+]*(${NAME})`, 'i');
const LEADING_NAME = new RegExp(String.raw`^\s*(${NAME})`);

/** A token's category when no known agent named it; checked in order, crawler otherwise. */
const CATEGORY_RULES: readonly (readonly [BotCategory, RegExp])[] = [
  ['headless', /headless|phantomjs|playwright|puppeteer|selenium|webdriver|cypress|slimerjs|htmlunit|^splash$/],
  ['ai_agent', /gpt|openai|claude|anthropic|perplexity|cohere|mistral|gemini|deepseek|chatglm|llm|(?:^|[-_.])ai(?:$|[-_.\d]|bot|search)|crawl4ai|firecrawl/],
  [
    'link_preview',
    /preview|externalhit|unfurl|linkexpand|embed|iframely|onebox|imgproxy|camo|opengraph|twitterbot|slackbot|discordbot|linkedinbot|telegrambot|whatsapp|pinterest|redditbot|vkshare|viber|skype|snapchat|mastodon|bluesky|flipboard|tumblr|lemmy|friendica|misskey|summaly|synapse|mattermost|groupme|keybase|chatwork|dingtalk|quora|evernote|tweetmeme/,
  ],
  ['monitor', /monitor|uptime|(?:^|[-_.])ping|statuscake|site24x7|gtmetrix|lighthouse|pagespeed|speedcurve|newrelic|datadog|synthetic|webpagetest|^ptst|dareboost|rigor|catchpoint|checkly|freshping|hetrix|nodeping|status|(?<!link)check(?!er)|observ/],
  [
    'tool',
    /^(?:curl|libcurl|wget|python|aiohttp|httpx|urllib|requests|go-http|go-resty|java|jakarta|okhttp|axios|node|undici|got|deno|bun|apache-httpclient|libwww-perl|lwp|perl|php|guzzle|ruby|faraday|http\.rb|httpie|postman|insomnia|scrapy|colly|mechanize|powershell|winhttp|restsharp|dart|reqwest|hackney|ahc|jetty|httpunit|pcore|anyevent|superagent|rest-client|typhoeus|excon|http_get|httpclient|httpurlconnection|wordpress)|http-?client/,
  ],
];

/** When the token says nothing about the kind, the rest of the (bot's) user agent may: its words, an `.ai` home page. */
const CATEGORY_CUES: readonly (readonly [BotCategory, RegExp])[] = [
  ['monitor', /\b(?:uptime|monitor(?:ing)?|downtime|health ?check|status ?check|synthetic)\b/i],
  ['link_preview', /\b(?:link ?preview|unfurl(?:er)?)\b/i],
  ['ai_agent', /[\w-]\.ai\b/i],
];

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One alternation of every known name, longest first so `Slackbot-LinkExpanding` wins over `Slackbot`. */
const KNOWN_AGENT_PATTERN = new RegExp(
  `(?<![A-Za-z0-9])(?:${[...KNOWN_AGENTS]
    .sort((a, b) => b.name.length - a.name.length)
    .map((agent) => escapeRegExp(agent.name))
    .join('|')})(?![A-Za-z0-9])`,
  'i',
);
const KNOWN_AGENT_BY_NAME: ReadonlyMap<string, KnownAgent> = new Map(KNOWN_AGENTS.map((agent) => [agent.name.toLowerCase(), agent]));

/**
 * One global copy of isbot's pattern serves both the yes/no test and finding every fragment,
 * so it is compiled once per isolate (a few milliseconds, on the first call).
 */
const ISBOT_FRAGMENTS = new RegExp(getPattern().source, 'gi');

interface Span {
  start: number;
  end: number;
}

function knownAgent(userAgent: string): UserAgentVerdict | null {
  const match = KNOWN_AGENT_PATTERN.exec(userAgent);
  const agent = match === null ? undefined : KNOWN_AGENT_BY_NAME.get(match[0].toLowerCase());
  if (agent !== undefined) return { bot: true, category: agent.category, token: agent.token ?? agent.name.toLowerCase() };
  const shape = KNOWN_AGENT_SHAPES.find(({ pattern }) => pattern.test(userAgent));
  return shape === undefined ? null : { bot: true, category: shape.category, token: shape.token };
}

/**
 * Every match of a global pattern. An exec loop on the one RegExp object, not matchAll: matchAll
 * clones the RegExp per call, and a clone of isbot's pattern may have to be compiled anew
 * (tens of ms) once the engine has dropped its compilation cache.
 */
function spansOf(userAgent: string, pattern: RegExp, limit = Number.POSITIVE_INFINITY): Span[] {
  const spans: Span[] = [];
  pattern.lastIndex = 0;
  for (let match = pattern.exec(userAgent); match !== null && spans.length < limit; match = pattern.exec(userAgent)) {
    spans.push({ start: match.index, end: match.index + match[0].length });
    if (match[0].length === 0) pattern.lastIndex++;
  }
  return spans;
}

function matchesIsbot(userAgent: string): boolean {
  ISBOT_FRAGMENTS.lastIndex = 0;
  return ISBOT_FRAGMENTS.test(userAgent);
}

function excusedSpans(userAgent: string): Span[] {
  if (!BROWSER_SHAPE.test(userAgent)) return [];
  return EXCUSED_SEGMENTS.filter(({ marker }) => marker.test(userAgent)).flatMap(({ segment }) => spansOf(userAgent, segment));
}

function within(inner: Span, outers: readonly Span[]): boolean {
  return outers.some((outer) => inner.start >= outer.start && inner.end <= outer.end);
}

/** Real user agents have a handful; each costs about a microsecond, so padding made of fragments must not be read to the end. */
const MAX_FRAGMENTS = 32;

/** Where isbot's pattern matches, minus what an in-app browser's own segment explains. */
function botFragments(userAgent: string): Span[] {
  const excused = excusedSpans(userAgent);
  return spansOf(userAgent, ISBOT_FRAGMENTS, MAX_FRAGMENTS).filter((fragment) => !within(fragment, excused));
}

function cleanToken(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/\s+/g, '-')
    .replace(/[^a-z0-9_.-]/g, '')
    .replace(/^www\./, '')
    .slice(0, MAX_TOKEN_LENGTH)
    .replace(/[._-]+$/, '');
}

/** `[A-Za-z0-9_.-]`, by char code: it is asked once per character of a token. */
function isTokenChar(userAgent: string, index: number): boolean {
  const code = userAgent.charCodeAt(index);
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95 || code === 46 || code === 45;
}

/** The run of product-token characters that starts where the fragment does (stops at the `/` before a version). */
function productTokenAt(userAgent: string, fragment: Span): string {
  let start = fragment.start;
  while (start < fragment.end && !isTokenChar(userAgent, start)) start++;
  if (start === fragment.end) return '';
  let end = start;
  while (start > 0 && isTokenChar(userAgent, start - 1)) start--;
  while (end < userAgent.length && isTokenChar(userAgent, end)) end++;
  return cleanToken(userAgent.slice(start, end));
}

/** Who the user agent says it is when no fragment names it: `compatible; Name`, or its leading product. */
function identityToken(userAgent: string): string | null {
  const compatible = COMPATIBLE_NAME.exec(userAgent)?.[1];
  const leading = /^mozilla\//i.test(userAgent) ? undefined : LEADING_NAME.exec(userAgent)?.[1];
  const token = cleanToken(compatible ?? leading ?? '');
  return GENERIC_TOKENS.has(token) ? null : token;
}

function reasonToken(userAgent: string, fragments: readonly Span[]): string {
  const contacts = spansOf(userAgent, CONTACT_SPAN);
  for (const fragment of fragments) {
    if (within(fragment, contacts)) continue;
    const token = productTokenAt(userAgent, fragment);
    if (!GENERIC_TOKENS.has(token)) return token;
  }
  const first = fragments[0];
  return identityToken(userAgent) ?? ((first === undefined ? '' : productTokenAt(userAgent, first)) || 'pattern');
}

function categoryOf(token: string, userAgent: string): BotCategory {
  return CATEGORY_RULES.find(([, pattern]) => pattern.test(token))?.[0] ?? CATEGORY_CUES.find(([, pattern]) => pattern.test(userAgent))?.[0] ?? 'crawler';
}

/**
 * Real user agents, bots' included, stay under 600 characters. Whatever a (server-forwarded)
 * user agent carries past this is padding: it is not looked at, so it cannot cost CPU.
 */
const MAX_CLASSIFIED_LENGTH = 1024;

function classifyUncached(fullUserAgent: string): UserAgentVerdict {
  const userAgent = fullUserAgent.slice(0, MAX_CLASSIFIED_LENGTH);
  const known = knownAgent(userAgent);
  if (known !== null) return known;
  if (!matchesIsbot(userAgent)) return HUMAN;
  const fragments = botFragments(userAgent);
  if (fragments.length === 0) return HUMAN;
  const token = reasonToken(userAgent, fragments);
  return { bot: true, category: categoryOf(token, userAgent), token };
}

/** Cached verdicts are shared by every caller in the isolate. */
function classifyFrozen(userAgent: string): UserAgentVerdict {
  return Object.freeze(classifyUncached(userAgent));
}

/**
 * A browser batch shares one user agent and a busy isolate sees the same few again and again,
 * so verdicts are kept: bounded, cleared when full rather than tracking recency, and odd
 * long user agents are not kept at all.
 */
const DEFAULT_MAX_CACHED_VERDICTS = 1024;
const MAX_CACHED_USER_AGENT_LENGTH = 1024;

export function createUserAgentClassifier(maxCachedVerdicts = DEFAULT_MAX_CACHED_VERDICTS): (userAgent: string) => UserAgentVerdict {
  const verdicts = new Map<string, UserAgentVerdict>();
  return (userAgent) => {
    const cached = verdicts.get(userAgent);
    if (cached !== undefined) return cached;
    const verdict = classifyFrozen(userAgent);
    if (maxCachedVerdicts > 0 && userAgent.length <= MAX_CACHED_USER_AGENT_LENGTH) {
      if (verdicts.size >= maxCachedVerdicts) verdicts.clear();
      verdicts.set(userAgent, verdict);
    }
    return verdict;
  };
}

const classifyWithIsolateCache = createUserAgentClassifier();

export function classifyUserAgent(userAgent: string): UserAgentVerdict {
  return classifyWithIsolateCache(userAgent);
}
