/**
 * A workspace's bot allow-list (IPs/CIDRs and user-agent substrings): events it matches are
 * never flagged by any layer. The edge (layers 1 and 2) and the events consumer (layers 3 and
 * 4) both ask it, so both decide alike. Compiled once per settings object.
 */
import type { BotSettings } from '../schema/workspace-settings';
import { addressInRanges, parseRange, type AddressRange } from './ip-address';

export interface BotAllowlist {
  allows(ip: string | null, userAgent: string | null): boolean;
}

const compiled = new WeakMap<BotSettings, BotAllowlist>();

export function botAllowlist(settings: BotSettings): BotAllowlist {
  let allowlist = compiled.get(settings);
  if (!allowlist) {
    const ranges = settings.allowIps.map(parseRange).filter((range): range is AddressRange => range !== null);
    const agents = settings.allowUserAgents.map((agent) => agent.toLowerCase());
    allowlist = {
      allows(ip, userAgent) {
        if (ip !== null && ranges.length > 0 && addressInRanges(ip, ranges)) return true;
        if (userAgent === null || agents.length === 0) return false;
        const lower = userAgent.toLowerCase();
        return agents.some((agent) => lower.includes(agent));
      },
    };
    compiled.set(settings, allowlist);
  }
  return allowlist;
}
