/**
 * A promise given a deadline: it settles as `promise` does, or rejects with `timedOut()` once
 * `ms` pass first; the timer is cleared either way (a pending one would hold the process open).
 *
 * @example
 * ```ts
 * await withTimeout(resolveHost("example.org"), 2_000); // rejects "timed out" after 2 s
 * ```
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, timedOut: () => Error = () => new Error("timed out")): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
