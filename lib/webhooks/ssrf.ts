/**
 * SSRF guard for webhook endpoint URLs. Run it when an endpoint is created or updated AND
 * again before every send (rules may tighten, and stored rows may predate them).
 *
 * What it checks: the URL alone. `https:` on the default port, no userinfo, and a host that
 * is neither a non-public IP literal (IPv4 or IPv6, including IPv6 forms that embed an
 * IPv4 address) nor a name reserved for local or cloud-internal use. The WHATWG URL parser
 * has already turned numeric IPv4 spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`) into
 * dotted quads and IPv6 into its compressed hex form, so only those forms are matched here.
 *
 * What it cannot see: where a public-looking hostname resolves. `hooks.example.com` may
 * have an A record of 10.0.0.1 (or change to one later: DNS rebinding). There is no DNS
 * API in Workers to check first, and checking then connecting would race anyway. In
 * production that gap is closed by the platform: a Worker's `fetch` goes out through
 * Cloudflare's edge to the public internet and cannot reach private networks or the
 * host's metadata service. Anything that sends from elsewhere (Node, a VM) must resolve
 * and pin the address itself. The sender must also use `redirect: 'manual'`: a followed
 * redirect would go to a URL this guard never saw.
 *
 * `allowLoopbackHttp` is the local-development switch: it lets `http:` or `https:` reach
 * 127.0.0.0/8, ::1 or `localhost` on any port, and nothing else.
 */

export type WebhookUrlRefusalCode =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'userinfo_not_allowed'
  | 'port_not_allowed'
  | 'private_address'
  | 'metadata_address'
  | 'host_not_allowed';

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; code: WebhookUrlRefusalCode; message: string };

export interface WebhookUrlOptions {
  allowLoopbackHttp: boolean;
}

export const MAX_WEBHOOK_URL_LENGTH = 2048;

type Refusal = Extract<WebhookUrlCheck, { ok: false }>;

interface Ipv4Range {
  base: number;
  prefix: number;
  label: string;
}

interface Ipv6Range {
  base: readonly number[];
  prefix: number;
  label: string;
}

// Declared before the range tables below, which parse their bases at module load.
const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Cloud metadata services, refused with their own code so the reason is obvious. */
const METADATA_IPV4 = new Map([
  ['169.254.169.254', 'the AWS, GCP, Azure and OpenStack metadata service'],
  ['169.254.170.2', 'the AWS ECS task metadata service'],
  ['100.100.100.200', 'the Alibaba Cloud metadata service'],
]);
const METADATA_IPV6 = [{ groups: [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], label: 'the AWS metadata service (IPv6)' }];
const METADATA_HOSTNAMES = new Set(['metadata.google.internal']);

const LOOPBACK_IPV4 = ipv4Range('127.0.0.0', 8, 'loopback (127/8)');

/** RFC 6890 special-purpose IPv4 blocks: none of them is a public webhook receiver. */
const REFUSED_IPV4_RANGES: readonly Ipv4Range[] = [
  ipv4Range('255.255.255.255', 32, 'the broadcast address'),
  ipv4Range('0.0.0.0', 8, '"this network" (unspecified)'),
  ipv4Range('10.0.0.0', 8, 'a private network (10/8)'),
  ipv4Range('100.64.0.0', 10, 'carrier-grade NAT (100.64/10)'),
  LOOPBACK_IPV4,
  ipv4Range('169.254.0.0', 16, 'link-local (169.254/16)'),
  ipv4Range('172.16.0.0', 12, 'a private network (172.16/12)'),
  ipv4Range('192.0.0.0', 24, 'IETF protocol assignments (192.0.0/24)'),
  ipv4Range('192.0.2.0', 24, 'documentation (TEST-NET-1)'),
  ipv4Range('192.88.99.0', 24, 'the deprecated 6to4 relay anycast block'),
  ipv4Range('192.168.0.0', 16, 'a private network (192.168/16)'),
  ipv4Range('198.18.0.0', 15, 'benchmarking (198.18/15)'),
  ipv4Range('198.51.100.0', 24, 'documentation (TEST-NET-2)'),
  ipv4Range('203.0.113.0', 24, 'documentation (TEST-NET-3)'),
  ipv4Range('224.0.0.0', 4, 'multicast (224/4)'),
  ipv4Range('240.0.0.0', 4, 'reserved (240/4)'),
];

/** Special blocks inside global unicast 2000::/3; everything outside 2000::/3 is refused anyway. */
const REFUSED_GLOBAL_IPV6_RANGES: readonly Ipv6Range[] = [
  ipv6Range([0x2001, 0], 32, 'Teredo (2001::/32), which tunnels to an address it hides'),
  ipv6Range([0x2001, 0x0010], 28, 'ORCHID (2001:10::/28)'),
  ipv6Range([0x2001, 0x0020], 28, 'ORCHIDv2 (2001:20::/28)'),
  ipv6Range([0x2001, 0x0db8], 32, 'documentation (2001:db8::/32)'),
  ipv6Range([0x3fff], 20, 'documentation (3fff::/20)'),
];

/** Outside 2000::/3, named only so the message says what the address is. */
const NAMED_NON_GLOBAL_IPV6_RANGES: readonly Ipv6Range[] = [
  ipv6Range([0x0064, 0xff9b, 0x0001], 48, 'local-use NAT64 (64:ff9b:1::/48)'),
  ipv6Range([0x0100], 64, 'discard-only (100::/64)'),
  ipv6Range([0xfc00], 7, 'unique-local (fc00::/7)'),
  ipv6Range([0xfe80], 10, 'link-local (fe80::/10)'),
  ipv6Range([0xfec0], 10, 'site-local (fec0::/10, deprecated)'),
  ipv6Range([0xff00], 8, 'multicast (ff00::/8)'),
];

const GLOBAL_UNICAST_IPV6 = ipv6Range([0x2000], 3, 'global unicast');
const NAT64_WELL_KNOWN = ipv6Range([0x0064, 0xff9b], 96, 'NAT64');
const SIX_TO_FOUR = ipv6Range([0x2002], 16, '6to4');
const IPV4_MAPPED = ipv6Range([0, 0, 0, 0, 0, 0xffff], 96, 'IPv4-mapped');
const IPV4_COMPATIBLE = ipv6Range([], 96, 'IPv4-compatible');

/** Names that only ever mean "this machine" or "this private network" (RFC 6761, 6762, 8375; ICANN's .internal). */
const REFUSED_NAME_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'localdomain'];

export function checkWebhookUrl(raw: string, options: WebhookUrlOptions): WebhookUrlCheck {
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) return refuse('invalid_url', `The URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters.`);
  const url = parseUrl(raw);
  if (!url) return refuse('invalid_url', 'The URL could not be parsed; give an absolute https:// URL.');

  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return refuse('scheme_not_allowed', `The ${url.protocol} scheme is not allowed; webhook URLs must use https://.`);
  }
  if (url.username !== '' || url.password !== '') {
    return refuse('userinfo_not_allowed', 'The URL must not contain a user name or password (user:pass@); authenticate with the webhook signature instead.');
  }
  if (options.allowLoopbackHttp && isLoopbackHost(url.hostname)) return { ok: true, url };
  if (url.protocol === 'http:') {
    return refuse('scheme_not_allowed', 'Plain http:// is not allowed; webhook URLs must use https:// (http is allowed only to loopback in local development).');
  }
  // The parser drops an explicit :443 for https, so any port left is a non-default one.
  if (url.port !== '') {
    return refuse('port_not_allowed', `Port ${url.port} is not allowed; webhook URLs must use the default https port 443.`);
  }
  const hostRefusal = checkHost(url.hostname);
  return hostRefusal ?? { ok: true, url };
}

function parseUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const ipv4 = parseIpv4(hostname);
  if (ipv4 !== null) return inIpv4Range(ipv4, LOOPBACK_IPV4);
  const ipv6 = parseBracketedIpv6(hostname);
  return ipv6 !== null && isIpv6Loopback(ipv6);
}

function checkHost(hostname: string): Refusal | null {
  const ipv4 = parseIpv4(hostname);
  if (ipv4 !== null) return checkIpv4(ipv4, hostname);
  const ipv6 = parseBracketedIpv6(hostname);
  if (ipv6 !== null) return checkIpv6(ipv6, hostname);
  if (hostname.startsWith('[')) return refuse('invalid_url', `The host ${hostname} is not a valid IPv6 address.`);
  return checkHostname(hostname);
}

interface RefusedAddress {
  code: 'private_address' | 'metadata_address';
  description: string;
}

function checkIpv4(address: number, shown: string): Refusal | null {
  const refused = classifyIpv4(address);
  return refused && refuse(refused.code, `${shown} is ${refused.description}${refusalSuffix(refused.code)}`);
}

function classifyIpv4(address: number): RefusedAddress | null {
  const metadata = METADATA_IPV4.get(formatIpv4(address));
  if (metadata) return { code: 'metadata_address', description: metadata };
  const range = REFUSED_IPV4_RANGES.find((candidate) => inIpv4Range(address, candidate));
  return range ? { code: 'private_address', description: `in ${range.label}` } : null;
}

function refusalSuffix(code: RefusedAddress['code']): string {
  return code === 'metadata_address' ? ', which webhooks must never reach.' : ', not a public address.';
}

function isIpv6Loopback(groups: readonly number[]): boolean {
  return groups.every((group, index) => group === (index === 7 ? 1 : 0));
}

function checkIpv6(groups: readonly number[], shown: string): Refusal | null {
  const metadata = METADATA_IPV6.find((candidate) => candidate.groups.every((group, index) => group === groups[index]));
  if (metadata) return refuse('metadata_address', `${shown} is ${metadata.label}, which webhooks must never reach.`);
  if (groups.every((group) => group === 0)) return refuse('private_address', `${shown} is the unspecified address (::), not a public address.`);
  if (isIpv6Loopback(groups)) return refuse('private_address', `${shown} is loopback (::1), not a public address.`);

  const embedded = embeddedIpv4(groups);
  if (embedded) return checkEmbeddedIpv4(embedded, shown);
  if (!inIpv6Range(groups, GLOBAL_UNICAST_IPV6)) {
    const named = NAMED_NON_GLOBAL_IPV6_RANGES.find((candidate) => inIpv6Range(groups, candidate));
    return refuse('private_address', `${shown} is ${named ? `in ${named.label}` : 'outside global unicast (2000::/3)'}, not a public address.`);
  }
  const range = REFUSED_GLOBAL_IPV6_RANGES.find((candidate) => inIpv6Range(groups, candidate));
  return range ? refuse('private_address', `${shown} is in ${range.label}, not a public address.`) : null;
}

interface EmbeddedIpv4 {
  address: number;
  form: string;
  /** NAT64 and 6to4 are real routes to the IPv4 host; mapped and compatible forms are only another spelling. */
  isRoute: boolean;
}

/** IPv6 forms that carry an IPv4 destination are judged by that IPv4 address. */
function embeddedIpv4(groups: readonly number[]): EmbeddedIpv4 | null {
  const low32 = joinGroups(groups[6], groups[7]);
  if (inIpv6Range(groups, IPV4_MAPPED)) return { address: low32, form: 'the IPv4-mapped form of', isRoute: false };
  if (inIpv6Range(groups, IPV4_COMPATIBLE)) return { address: low32, form: 'the (deprecated) IPv4-compatible form of', isRoute: false };
  if (inIpv6Range(groups, NAT64_WELL_KNOWN)) return { address: low32, form: 'the NAT64 form of', isRoute: true };
  if (inIpv6Range(groups, SIX_TO_FOUR)) return { address: joinGroups(groups[1], groups[2]), form: 'the 6to4 form of', isRoute: true };
  return null;
}

function checkEmbeddedIpv4(embedded: EmbeddedIpv4, shown: string): Refusal | null {
  const ipv4 = formatIpv4(embedded.address);
  const refused = classifyIpv4(embedded.address);
  if (refused) return refuse(refused.code, `${shown} is ${embedded.form} ${ipv4}, which is ${refused.description}${refusalSuffix(refused.code)}`);
  if (embedded.isRoute) return null;
  return refuse('host_not_allowed', `${shown} is ${embedded.form} ${ipv4}; write the IPv4 address itself.`);
}

function checkHostname(hostname: string): Refusal | null {
  // "localhost." and "localhost" are the same name to DNS.
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (METADATA_HOSTNAMES.has(name)) return refuse('metadata_address', `${hostname} is the cloud metadata service, which webhooks must never reach.`);
  const suffix = REFUSED_NAME_SUFFIXES.find((candidate) => name === candidate || name.endsWith(`.${candidate}`));
  if (suffix) return refuse('host_not_allowed', `${hostname} is a local or internal name (.${suffix}), not a public host.`);
  if (name === '' || !name.includes('.')) {
    return refuse('host_not_allowed', `${hostname} is a single-label name that only resolves on a local network; use a fully qualified public host name.`);
  }
  return null;
}

function parseIpv4(hostname: string): number | null {
  const match = DOTTED_QUAD.exec(hostname);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return null;
  return octets.reduce((address, octet) => address * 256 + octet, 0);
}

/** Parses the bracketed, compressed-hex IPv6 host the URL parser produces; null for anything else. */
function parseBracketedIpv6(hostname: string): number[] | null {
  if (!hostname.startsWith('[') || !hostname.endsWith(']')) return null;
  return parseIpv6(hostname.slice(1, -1));
}

function parseIpv6(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = parseIpv6Groups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseIpv6Groups(halves[1] ?? '') : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
}

/** Hex groups only: the URL parser never serialises the dotted IPv4 tail. */
function parseIpv6Groups(text: string): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  if (!parts.every((part) => /^[0-9a-f]{1,4}$/i.test(part))) return null;
  return parts.map((part) => Number.parseInt(part, 16));
}

function ipv4Range(dotted: string, prefix: number, label: string): Ipv4Range {
  const base = parseIpv4(dotted);
  if (base === null) throw new Error(`Bad IPv4 range base ${dotted}`);
  return { base, prefix, label };
}

function ipv6Range(leadingGroups: readonly number[], prefix: number, label: string): Ipv6Range {
  return { base: [...leadingGroups, ...Array<number>(8 - leadingGroups.length).fill(0)], prefix, label };
}

function inIpv4Range(address: number, range: Ipv4Range): boolean {
  const size = 2 ** (32 - range.prefix);
  return Math.floor(address / size) === Math.floor(range.base / size);
}

function inIpv6Range(groups: readonly number[], range: Ipv6Range): boolean {
  for (let index = 0; index < 8; index++) {
    const bits = Math.min(16, Math.max(0, range.prefix - index * 16));
    if (bits === 0) return true;
    const mask = (0xffff << (16 - bits)) & 0xffff;
    if (((groups[index] ?? 0) & mask) !== ((range.base[index] ?? 0) & mask)) return false;
  }
  return true;
}

function joinGroups(high: number | undefined, low: number | undefined): number {
  return (high ?? 0) * 0x10000 + (low ?? 0);
}

function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

function refuse(code: WebhookUrlRefusalCode, message: string): Refusal {
  return { ok: false, code, message };
}
