/** Retry delay for a message that failed `attempts` times so far: base * 2^(attempts-1), capped. */
export const MAX_RETRY_DELAY_SECONDS = 15 * 60;

export function retryBaseSeconds(env: Pick<Env, 'RETRY_BASE_SECONDS'>): number {
  const base = Number(env.RETRY_BASE_SECONDS);
  return Number.isFinite(base) && base >= 0 ? base : 2;
}

export function retryDelaySeconds(attempts: number, baseSeconds: number, capSeconds = MAX_RETRY_DELAY_SECONDS): number {
  const exponent = Math.max(0, Math.min(30, attempts - 1));
  return Math.min(capSeconds, Math.round(baseSeconds * 2 ** exponent));
}
