/** Gives up waiting for `call` after `timeoutMs` (the call itself runs on; its late answer is ignored). */
export class DeadlineExceeded extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what}_timeout: no answer in ${timeoutMs} ms`);
    this.name = 'DeadlineExceeded';
  }
}

export async function withDeadline<T>(call: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([call, deadline]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}
