/**
 * Key/value storage behind the SDK. Every browser storage can throw (Safari private mode,
 * quota, disabled cookies), so each access is wrapped and falls back to memory.
 */
export interface Store {
  get(key: string): string | null;
  set(key: string, value: string): void;
  del(key: string): void;
  keys(): string[];
}

export function memoryStore(): Store {
  const data = new Map<string, string>();
  return {
    get: (key) => data.get(key) ?? null,
    set: (key, value) => data.set(key, value),
    del: (key) => data.delete(key),
    keys: () => [...data.keys()],
  };
}

/** A Web Storage (localStorage / sessionStorage) with a memory fallback for every failing call. */
export function webStore(getStorage: () => Storage): Store {
  const fallback = memoryStore();
  const attempt = <T>(use: (storage: Storage) => T, otherwise: () => T): T => {
    try {
      return use(getStorage());
    } catch {
      return otherwise();
    }
  };
  return {
    get: (key) => attempt((s) => s.getItem(key), () => fallback.get(key)),
    set: (key, value) => attempt((s) => s.setItem(key, value), () => fallback.set(key, value)),
    del: (key) => attempt((s) => s.removeItem(key), () => fallback.del(key)),
    // A Storage's keys are its own enumerable properties.
    keys: () => attempt((s) => Object.keys(s), () => fallback.keys()),
  };
}

const YEAR_SECONDS = 31536000;

/** First-party cookie access for the anonymous id (so subdomains can share it via cookieDomain). */
export function cookieStore(doc: Document, domain?: string): Pick<Store, 'get' | 'set' | 'del'> {
  const write = (key: string, value: string, maxAge: number): void => {
    try {
      doc.cookie = `${key}=${encodeURIComponent(value)};path=/;max-age=${maxAge};SameSite=Lax${domain ? `;domain=${domain}` : ''}${location.protocol === 'https:' ? ';Secure' : ''}`;
    } catch {
      // Cookies disabled or sandboxed document: localStorage still holds the id.
    }
  };
  return {
    get(key) {
      try {
        const match = doc.cookie.match(new RegExp(`(?:^|; )${key}=([^;]*)`));
        return match?.[1] ? decodeURIComponent(match[1]) : null;
      } catch {
        return null;
      }
    },
    set: (key, value) => write(key, value, YEAR_SECONDS),
    del: (key) => write(key, '', 0),
  };
}
