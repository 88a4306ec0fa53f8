/**
 * IP addresses as numbers, and CIDR ranges: enough to tell whether an address is in a list of
 * ranges (bot allow-lists). Pure, the same in workerd and Node.
 */

export interface ParsedAddress {
  version: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface AddressRange {
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  const address = text.replace(/^\[|\]$/g, '').split('%')[0] ?? '';
  if (!/^[0-9a-f:.]+$/i.test(address) || (address.match(/::/g) ?? []).length > 1) return null;
  let groups = address.split(':');
  // An embedded IPv4 tail (::ffff:192.0.2.1) is two groups.
  const last = groups.at(-1) ?? '';
  if (last.includes('.')) {
    const v4 = parseIpv4(last);
    if (v4 === null) return null;
    groups = [...groups.slice(0, -1), ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16)];
  }
  const gap = groups.indexOf('');
  if (address.includes('::')) {
    const head = address.startsWith('::') ? [] : groups.slice(0, gap);
    const tail = groups.slice(groups.lastIndexOf('') + 1);
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  }
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

export function parseAddress(text: string): ParsedAddress | null {
  const trimmed = text.trim();
  if (trimmed.includes(':')) {
    const value = parseIpv6(trimmed);
    return value === null ? null : { version: 6, value };
  }
  const value = parseIpv4(trimmed);
  return value === null ? null : { version: 4, value };
}

/** `203.0.113.0/24`, `2001:db8::/32`, or a single address (a full-length prefix). */
export function parseRange(text: string): AddressRange | null {
  const [address = '', prefixText] = text.trim().split('/');
  const parsed = parseAddress(address);
  if (!parsed) return null;
  const bits = parsed.version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) return null;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { version: parsed.version, network: parsed.value & mask, prefix };
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is that IPv4 address. */
function unmapped(address: ParsedAddress): ParsedAddress {
  if (address.version === 6 && address.value >> 32n === 0xffffn) return { version: 4, value: address.value & 0xffffffffn };
  return address;
}

export function rangeContains(range: AddressRange, address: ParsedAddress): boolean {
  const candidate = unmapped(address);
  if (candidate.version !== range.version) return false;
  const bits = range.version === 4 ? 32 : 128;
  const shift = BigInt(bits - range.prefix);
  return range.prefix === 0 || candidate.value >> shift === range.network >> shift;
}

/** Whether `ip` is in any of `ranges` (unparseable ranges and addresses match nothing). */
export function addressInRanges(ip: string, ranges: readonly AddressRange[]): boolean {
  const address = parseAddress(ip);
  return address !== null && ranges.some((range) => rangeContains(range, address));
}
