// The control endpoint's per-source memory: the dedup cache, and (sharing this file) the rate limiter.
import { describe, expect, test } from "bun:test";
import { DEDUP_WINDOW_MS } from "../../protocol/control.ts";
import { DedupCache, dedupKey } from "../../server/dedup.ts";
import { RateLimiter } from "../../server/rate_limit.ts";

const reply = (text: string) => new TextEncoder().encode(text);

describe("DedupCache", () => {
  test("a retried request within the window gets the very same reply bytes", () => {
    const dedup = new DedupCache();
    const sent = reply('{"v":1,"id":"c1","ok":true,"result":{"job":"job-12"}}');
    expect(dedup.claim("10.0.0.5", 40000, "c1", 0)).toEqual({ kind: "new" });
    dedup.put("10.0.0.5", 40000, "c1", sent, 5);
    const again = dedup.claim("10.0.0.5", 40000, "c1", 5 + DEDUP_WINDOW_MS - 1);
    expect(again.kind).toBe("replay");
    expect(again.kind === "replay" && again.reply).toBe(sent);
    expect(dedup.get("10.0.0.5", 40000, "c1", 5 + DEDUP_WINDOW_MS - 1)).toBe(sent);
  });

  test("after the window the id is new again", () => {
    const dedup = new DedupCache();
    dedup.put("10.0.0.5", 40000, "c1", reply("x"), 1000);
    expect(dedup.get("10.0.0.5", 40000, "c1", 1000 + DEDUP_WINDOW_MS)).toBeUndefined();
    expect(dedup.claim("10.0.0.5", 40000, "c1", 1000 + DEDUP_WINDOW_MS)).toEqual({ kind: "new" });
  });

  test("the same id from another port or address is a different request", () => {
    const dedup = new DedupCache();
    dedup.put("10.0.0.5", 40000, "c1", reply("x"), 0);
    expect(dedup.get("10.0.0.5", 40001, "c1", 1)).toBeUndefined();
    expect(dedup.get("10.0.0.6", 40000, "c1", 1)).toBeUndefined();
    expect(dedupKey("::1", 1, "a b")).not.toBe(dedupKey("::1", 1, "a"));
  });

  test("a retry while the first copy still executes is told it is pending, not run twice", () => {
    const dedup = new DedupCache();
    expect(dedup.claim("10.0.0.5", 40000, "c1", 0).kind).toBe("new");
    expect(dedup.claim("10.0.0.5", 40000, "c1", 10).kind).toBe("pending");
    expect(dedup.get("10.0.0.5", 40000, "c1", 10)).toBeUndefined();
    dedup.forget("10.0.0.5", 40000, "c1");
    expect(dedup.claim("10.0.0.5", 40000, "c1", 20).kind).toBe("new");
  });

  test("a signed datagram resent from another port or address is known by its MAC, also while it still executes", () => {
    const dedup = new DedupCache();
    const mac = "ab".repeat(32);
    expect(dedup.claim("10.0.0.5", 40000, "c1", 0, mac).kind).toBe("new");
    expect(dedup.claim("10.0.0.9", 50000, "c1", 1, mac).kind).toBe("pending");
    const sent = reply("first");
    dedup.put("10.0.0.5", 40000, "c1", sent, 2, mac);
    const copy = dedup.claim("10.0.0.9", 50001, "c1", 3, mac);
    expect(copy.kind === "replay" && copy.reply).toBe(sent);
    // From elsewhere: the endpoint holds it to the size of the copy (anti-reflection).
    expect(copy.kind === "replay" && copy.sameSource).toBe(false);
    // The client's own retry has a fresh ts, so another MAC: it is matched by source and id.
    const retry = dedup.claim("10.0.0.5", 40000, "c1", 4, "cd".repeat(32));
    expect(retry.kind === "replay" && retry.reply).toBe(sent);
    expect(retry.kind === "replay" && retry.sameSource).toBe(true);
    // Another signed request is new.
    expect(dedup.claim("10.0.0.9", 50000, "c2", 5, "ef".repeat(32)).kind).toBe("new");
  });

  test("is bounded: the oldest entries are evicted first", () => {
    const dedup = new DedupCache({ maxEntries: 3 });
    for (const [i, id] of ["a", "b", "c", "d"].entries()) dedup.put("10.0.0.5", 1, id, reply(id), i);
    expect(dedup.size).toBe(3);
    expect(dedup.get("10.0.0.5", 1, "a", 4)).toBeUndefined();
    expect(dedup.get("10.0.0.5", 1, "d", 4)).toEqual(reply("d"));
  });

  test("expired entries are swept as time moves on, keeping memory to one window", () => {
    const dedup = new DedupCache({ windowMs: 100 });
    for (let t = 0; t < 1000; t++) dedup.put("10.0.0.5", 1, `id-${t}`, reply("x"), t);
    expect(dedup.size).toBe(100);
    dedup.sweep(10_000);
    expect(dedup.size).toBe(0);
  });

  test("get and put stay fast at full size (O(1))", () => {
    const dedup = new DedupCache();
    const bytes = reply("x");
    const start = performance.now();
    for (let i = 0; i < 200_000; i++) dedup.put("10.0.0.5", i & 0xffff, `id-${i}`, bytes, i >> 4);
    for (let i = 0; i < 200_000; i++) dedup.get("10.0.0.5", i & 0xffff, `id-${i}`, 200_000 >> 4);
    expect(dedup.size).toBeLessThanOrEqual(65_536);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe("RateLimiter", () => {
  test("allows a burst, then the configured rate", () => {
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5 });
    const allowed = Array.from({ length: 8 }, () => limiter.allow("10.0.0.5", 0));
    expect(allowed).toEqual([true, true, true, true, true, false, false, false]);
    expect(limiter.allow("10.0.0.5", 99)).toBe(false); // 0.99 token
    expect(limiter.allow("10.0.0.5", 100)).toBe(true); // one token per 100 ms
    expect(limiter.allow("10.0.0.5", 100)).toBe(false);
  });

  test("a quiet spell refills no more than the burst", () => {
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 3 });
    for (let i = 0; i < 3; i++) limiter.allow("10.0.0.5", 0);
    const allowed = Array.from({ length: 5 }, () => limiter.allow("10.0.0.5", 3_600_000));
    expect(allowed).toEqual([true, true, true, false, false]);
  });

  test("one source's flood does not limit another", () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1 });
    expect(limiter.allow("10.0.0.5", 0)).toBe(true);
    expect(limiter.allow("10.0.0.5", 0)).toBe(false);
    expect(limiter.allow("10.0.0.6", 0)).toBe(true);
  });

  test("a clock stepping backwards neither refills nor drains", () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1 });
    expect(limiter.allow("a", 10_000)).toBe(true);
    expect(limiter.allow("a", 0)).toBe(false);
    expect(limiter.allow("a", 11_000)).toBe(true);
  });

  test("tracks a bounded number of sources, forgetting the least recently seen", () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxSources: 2 });
    limiter.allow("a", 0);
    limiter.allow("b", 0);
    limiter.allow("a", 0); // a is now the most recent (and empty)
    limiter.allow("c", 0); // evicts b
    expect(limiter.size).toBe(2);
    expect(limiter.allow("a", 0)).toBe(false); // still remembered, still empty
    expect(limiter.allow("b", 0)).toBe(true); // forgotten: a fresh bucket
  });
});

describe("LruMap under churn", () => {
  test("a rate limiter tracking many sources stays fast", () => {
    const limiter = new RateLimiter({ maxSources: 65_536 });
    const start = performance.now();
    for (let i = 0; i < 300_000; i++) limiter.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i);
    for (let i = 0; i < 300_000; i++) limiter.allow("10.0.0.1", i);
    expect(limiter.size).toBe(65_536);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
