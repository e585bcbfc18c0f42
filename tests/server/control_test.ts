import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import {
  type ControlRequest,
  decodeReply,
  decodeRequest,
  DEDUP_WINDOW_MS,
  encodeReply,
  encodeRequest,
  ERROR_CODES,
  errorReply,
  FRESHNESS_MS,
  MAX_DATAGRAM,
  MAX_ID,
  okReply,
  OPS,
  replyFitsFor,
  replyFor,
} from "../../protocol/control.ts";

const NOW = 1_750_000_000_000;
const KEY = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const OTHER_KEY = new TextEncoder().encode("fedcba9876543210fedcba9876543210");
const utf8 = new TextEncoder();

function request(overrides: Partial<ControlRequest> = {}): ControlRequest {
  return { v: 1, id: "ctl-1", ts: NOW, op: "ping", args: {}, ...overrides };
}

function raw(body: unknown): Uint8Array {
  return utf8.encode(typeof body === "string" ? body : JSON.stringify(body));
}

describe("constants", () => {
  test("match DESIGN.md", () => {
    expect(MAX_DATAGRAM).toBe(1400);
    expect(DEDUP_WINDOW_MS).toBe(60_000);
    expect(FRESHNESS_MS).toBe(30_000);
    expect(MAX_ID).toBe(64);
    expect([...OPS]).toEqual([
      "ping", "status", "play", "stop", "interest", "list", "queue", "pause", "resume", "cancel", "clear", "record", "reload",
    ]);
  });
});

describe("requests without a key", () => {
  test("a ctl request round-trips and is not authenticated", () => {
    const req = request({ op: "play", args: { name: "news.ts", to: ["rtp://10.0.0.5:5004"], loop: true } });
    const got = decodeRequest(encodeRequest(req), undefined, NOW);
    expect(got).toEqual({ ok: true, req, authenticated: false });
  });

  test("a MAC sent to a keyless server is ignored", () => {
    const got = decodeRequest(encodeRequest(request(), KEY), undefined, NOW);
    expect(got.ok).toBe(true);
  });

  test("a stale request gets an error reply with code stale", () => {
    const got = decodeRequest(encodeRequest(request({ ts: NOW - FRESHNESS_MS - 1 })), undefined, NOW);
    expect(got).toMatchObject({ ok: false, drop: false, id: "ctl-1", code: "stale" });
    expect(decodeRequest(encodeRequest(request({ ts: NOW + FRESHNESS_MS })), undefined, NOW).ok).toBe(true);
  });

  test("an unknown op is an error reply, not a drop", () => {
    const got = decodeRequest(raw({ v: 1, id: "x", ts: NOW, op: "explode", args: {} }), undefined, NOW);
    expect(got).toMatchObject({ ok: false, drop: false, id: "x", code: "unknown_op" });
  });

  test.each([
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), null],
    ["not JSON", raw("{v:1}"), null],
    ["an array", raw([1, 2]), null],
    ["version 2", raw({ v: 2, id: "a", ts: NOW, op: "ping", args: {} }), "a"],
    ["a missing id", raw({ v: 1, ts: NOW, op: "ping", args: {} }), null],
    ["an empty id", raw({ v: 1, id: "", ts: NOW, op: "ping", args: {} }), null],
    ["a 65-character id", raw({ v: 1, id: "x".repeat(65), ts: NOW, op: "ping", args: {} }), null],
    ["a numeric id", raw({ v: 1, id: 7, ts: NOW, op: "ping", args: {} }), null],
    ["a string ts", raw({ v: 1, id: "a", ts: String(NOW), op: "ping", args: {} }), "a"],
    ["a numeric op", raw({ v: 1, id: "a", ts: NOW, op: 3, args: {} }), "a"],
    ["array args", raw({ v: 1, id: "a", ts: NOW, op: "ping", args: [] }), "a"],
    ["missing args", raw({ v: 1, id: "a", ts: NOW, op: "ping" }), "a"],
    ["an unknown field", raw({ v: 1, id: "a", ts: NOW, op: "ping", args: {}, argz: {} }), "a"],
    ["a numeric pad", raw({ v: 1, id: "a", ts: NOW, op: "ping", args: {}, pad: 5 }), "a"],
  ])("%s is a bad_request reply", (_what, bytes, id) => {
    expect(decodeRequest(bytes, undefined, NOW)).toMatchObject({ ok: false, drop: false, code: "bad_request", id });
  });

  test("64 emoji make a valid id (ids count characters, not UTF-16 units)", () => {
    const id = "🎵".repeat(64);
    expect(decodeRequest(encodeRequest(request({ id })), undefined, NOW).ok).toBe(true);
  });

  test("an oversize datagram is a too_large reply without an id", () => {
    const bytes = raw({ v: 1, id: "a", ts: NOW, op: "ping", args: { x: "y".repeat(MAX_DATAGRAM) } });
    expect(decodeRequest(bytes, undefined, NOW)).toMatchObject({ ok: false, drop: false, code: "too_large", id: null });
  });
});

describe("requests with a key", () => {
  test("HMAC round trip: a signed request is authenticated", () => {
    const req = request({ op: "stop", args: { job: "job-12" } });
    const bytes = encodeRequest(req, KEY);
    const text = new TextDecoder().decode(bytes);
    expect(text).toMatch(/^\{.*\}\n[0-9a-f]{64}$/);
    expect(decodeRequest(bytes, KEY, NOW)).toEqual({ ok: true, req, authenticated: true });
  });

  test("the MAC is DESIGN.md's, as openssl computes it: HMAC-SHA256 of the body, lowercase hex, after a newline", () => {
    // Signed by an independent tool, as a client in another language would: the round trip above
    // passes for any MAC pacer agrees with itself on.
    const body = `{"v":1,"id":"ext-1","ts":${NOW},"op":"ping","args":{}}`;
    const openssl = spawnSync("openssl", ["dgst", "-sha256", "-hmac", new TextDecoder().decode(KEY), "-r"], { input: body, encoding: "utf8" });
    expect(openssl.status, openssl.stderr).toBe(0);
    const mac = openssl.stdout.split(" ")[0]!;
    expect(mac).toMatch(/^[0-9a-f]{64}$/);
    const signed = utf8.encode(`${body}\n${mac}`);
    expect(decodeRequest(signed, KEY, NOW)).toEqual({ ok: true, req: JSON.parse(body), authenticated: true });
    expect(new TextDecoder().decode(encodeRequest({ v: 1, id: "ext-1", ts: NOW, op: "ping", args: {} }, KEY))).toBe(`${body}\n${mac}`);
  });

  test("a missing MAC is dropped", () => {
    expect(decodeRequest(encodeRequest(request()), KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "missing_mac" });
  });

  test("a MAC under another key is dropped", () => {
    expect(decodeRequest(encodeRequest(request(), OTHER_KEY), KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "bad_mac" });
  });

  test("a body changed after signing is dropped", () => {
    const bytes = encodeRequest(request({ args: { job: "job-12" } }), KEY);
    const i = new TextDecoder().decode(bytes).indexOf("12");
    bytes[i] = "9".charCodeAt(0);
    expect(decodeRequest(bytes, KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "bad_mac" });
  });

  test("an uppercase MAC is not a MAC", () => {
    const text = new TextDecoder().decode(encodeRequest(request(), KEY));
    const upper = utf8.encode(text.slice(0, text.indexOf("\n") + 1) + text.slice(text.indexOf("\n") + 1).toUpperCase());
    expect(decodeRequest(upper, KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "missing_mac" });
  });

  test("a stale signed request is dropped, not answered", () => {
    const bytes = encodeRequest(request({ ts: NOW + FRESHNESS_MS + 1 }), KEY);
    expect(decodeRequest(bytes, KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "stale" });
  });

  test("an oversize datagram is dropped", () => {
    const bytes = new Uint8Array(MAX_DATAGRAM + 1).fill(0x20);
    expect(decodeRequest(bytes, KEY, NOW)).toMatchObject({ ok: false, drop: true, reason: "oversize" });
  });

  test("a signed request with an unknown op still gets an error reply", () => {
    const bytes = encodeRequest(request({ op: "explode" as never }), KEY);
    expect(decodeRequest(bytes, KEY, NOW)).toMatchObject({ ok: false, drop: false, code: "unknown_op" });
  });
});

describe("encodeRequest", () => {
  test("refuses a request that would not fit, naming the op", () => {
    expect(() => encodeRequest(request({ op: "queue", args: { path: "x".repeat(1400) } }))).toThrow(/"queue" is \d+ bytes; the limit is 1400/);
  });

  test("refuses an id longer than 64 characters", () => {
    expect(() => encodeRequest(request({ id: "x".repeat(65) }))).toThrow(/1 to 64 characters/);
  });

  test("pads to the requested size, with and without a key", () => {
    expect(encodeRequest(request(), undefined, { padTo: 1400 }).length).toBe(1400);
    const signed = encodeRequest(request(), KEY, { padTo: 1400 });
    expect(signed.length).toBe(1400);
    expect(decodeRequest(signed, KEY, NOW).ok).toBe(true);
  });
});

describe("replies", () => {
  test("ok and error replies round-trip", () => {
    const ok = okReply("ctl-1", { job: "job-12" });
    expect(decodeReply(encodeReply(ok))).toEqual({ ok: true, reply: ok });
    const err = errorReply("ctl-1", "forbidden", "destination 10.9.9.9 is not yours");
    expect(decodeReply(encodeReply(err))).toEqual({ ok: true, reply: err });
    expect(new TextDecoder().decode(encodeReply(err))).toBe(
      '{"v":1,"id":"ctl-1","ok":false,"error":{"code":"forbidden","message":"destination 10.9.9.9 is not yours"}}',
    );
  });

  test("a result too big for a datagram becomes too_large, saying to ask for a page", () => {
    const result = { jobs: Array.from({ length: 500 }, (_, i) => `job-${i}`) };
    const bytes = encodeReply(okReply("ctl-1", result));
    expect(bytes.length).toBeLessThanOrEqual(MAX_DATAGRAM);
    const size = new TextEncoder().encode(JSON.stringify(okReply("ctl-1", result))).length;
    expect(decodeReply(bytes)).toEqual({
      ok: true,
      reply: errorReply("ctl-1", "too_large", `the reply (${size} bytes) would not fit one datagram (1400 bytes); ask for less: a page at a time with "offset" and a smaller "limit"`),
    });
  });

  test("a long error message is cut, keeping the code", () => {
    const bytes = encodeReply(errorReply("ctl-1", "not_found", "\u0001🎵".repeat(1000)));
    expect(bytes.length).toBeLessThanOrEqual(MAX_DATAGRAM);
    const got = decodeReply(bytes);
    expect(got.ok && !got.reply.ok && got.reply.error.code).toBe("not_found");
  });

  test("decodeReply rejects malformed replies", () => {
    for (const body of [
      "nope",
      { v: 2, id: "a", ok: true, result: 1 },
      { v: 1, id: "a", ok: true },
      { v: 1, id: "a", ok: false, error: { code: "weird" } },
      { v: 1, id: 5, ok: true, result: 1 },
      { v: 1, id: "a", ok: "yes" },
    ]) {
      expect(decodeReply(raw(body)).ok).toBe(false);
    }
  });

  test("every error code survives a round trip", () => {
    for (const code of ERROR_CODES) {
      expect(decodeReply(encodeReply(errorReply("a", code)))).toEqual({ ok: true, reply: errorReply("a", code) });
    }
  });
});

describe("anti-reflection", () => {
  test("replyFitsFor: unauthenticated replies are never larger than the request", () => {
    expect(replyFitsFor(100, 100, false)).toBe(true);
    expect(replyFitsFor(101, 100, false)).toBe(false);
    expect(replyFitsFor(1400, 100, true)).toBe(true);
    expect(replyFitsFor(1401, 2000, true)).toBe(false);
    expect(replyFitsFor(1401, 2000, false)).toBe(false);
  });

  test("a big status page to a small unauthenticated request shrinks to too_large", () => {
    const req = encodeRequest(request({ op: "status" }));
    const page = okReply("ctl-1", { jobs: Array.from({ length: 30 }, (_, i) => ({ id: `job-${i}`, state: "playing" })) });
    const bytes = replyFor(page, req.length, false)!;
    expect(bytes.length).toBeLessThanOrEqual(req.length);
    expect(decodeReply(bytes)).toEqual({ ok: true, reply: errorReply("ctl-1", "too_large") });
    // The same page to an authenticated client, or to a padded request, goes out whole.
    expect(decodeReply(replyFor(page, req.length, true)!)).toEqual({ ok: true, reply: page });
    const padded = encodeRequest(request({ op: "status" }), undefined, { padTo: MAX_DATAGRAM });
    expect(decodeReply(replyFor(page, padded.length, false)!)).toEqual({ ok: true, reply: page });
  });

  test("a reply held back only by anti-reflection says it would exceed the request, and how to pad, in the room the request leaves", () => {
    const page = okReply("ctl-1", { jobs: Array.from({ length: 12 }, (_, i) => ({ id: `job-${i}`, state: "playing" })) });
    const pageBytes = encodeReply(page).length;
    const roomy = encodeRequest(request({ op: "status" }), undefined, { padTo: 400 });
    const advice = decodeReply(replyFor(page, roomy.length, false)!);
    const message = advice.ok && !advice.reply.ok ? advice.reply.error.message : "";
    expect(advice.ok && !advice.reply.ok && advice.reply.error.code).toBe("too_large");
    expect(message).toContain(`the reply (${pageBytes} bytes) would be larger than this unauthenticated request (${roomy.length} bytes)`);
    expect(message).toContain(`pad the request to at least ${pageBytes} bytes with a top-level "pad" string`);
    // An unpadded list request of a script has room for a few words only.
    const small = encodeRequest(request({ op: "list", args: { offset: 0, limit: 100 } }));
    const short = decodeReply(replyFor(page, small.length, false)!);
    expect(short.ok && !short.reply.ok && short.reply.error.message).toMatch(new RegExp(`^pad (request )?to ${pageBytes}`));
    // A reply too large for any datagram cannot be helped by padding: it says to ask for a page,
    // in the room the request leaves (before, the bare code).
    const huge = okReply("ctl-1", { jobs: Array.from({ length: 500 }, (_, i) => `job-${i}`) });
    const pageAdvice = decodeReply(replyFor(huge, roomy.length, false)!);
    expect(pageAdvice.ok && !pageAdvice.reply.ok && pageAdvice.reply.error.code).toBe("too_large");
    expect(pageAdvice.ok && !pageAdvice.reply.ok && pageAdvice.reply.error.message).toContain(`ask for less: a page at a time with "offset"`);
    const tight = encodeRequest(request({ op: "status" }), undefined, { padTo: 100 });
    expect(decodeReply(replyFor(huge, tight.length, false)!)).toMatchObject({ ok: true, reply: { error: { code: "too_large", message: "ask for a page" } } });
  });

  test("an error message that does not fit is shortened before the code is lost", () => {
    const req = encodeRequest(request({ op: "play", args: { name: "x.ts" } }));
    const bytes = replyFor(errorReply("ctl-1", "not_found", "media x.ts not found in the media root"), req.length, false)!;
    expect(bytes.length).toBeLessThanOrEqual(req.length);
    const got = decodeReply(bytes);
    expect(got.ok && !got.reply.ok && got.reply.error.code).toBe("not_found");
  });

  test("when even the minimal error is larger than the request, nothing is sent", () => {
    const tiny = raw({ v: 1, id: "a", ts: 0, op: "ping", args: {} });
    const decoded = decodeRequest(tiny, undefined, NOW);
    expect(decoded).toMatchObject({ ok: false, code: "stale" });
    expect(replyFor(errorReply("a", "stale", "clock"), tiny.length, false)).toBeNull();
  });
});

describe("properties", () => {
  const decodeIsTotal = (bytes: Uint8Array, key: Uint8Array | undefined) => {
    const got = decodeRequest(bytes, key, NOW);
    if (got.ok) {
      expect(OPS).toContain(got.req.op);
      expect([...got.req.id].length).toBeLessThanOrEqual(MAX_ID);
      expect(got.authenticated).toBe(key !== undefined);
    } else if (got.drop) {
      expect(key).toBeDefined(); // keyless servers never drop silently
    } else {
      expect(ERROR_CODES).toContain(got.code);
      // Whatever the error, the reply we would send fits in a datagram.
      expect(encodeReply(errorReply(got.id, got.code, got.message)).length).toBeLessThanOrEqual(MAX_DATAGRAM);
    }
  };

  test("decodeRequest never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1600 }), fc.boolean(), (bytes, keyed) => {
        decodeIsTotal(bytes, keyed ? KEY : undefined);
      }),
      { numRuns: 2000 },
    );
  });

  test("decodeRequest never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.json(), (text) => decodeIsTotal(utf8.encode(text), undefined)),
      { numRuns: 1000 },
    );
  });

  const validDatagram = fc
    .record({
      id: fc.string({ minLength: 1, maxLength: MAX_ID }),
      op: fc.constantFrom(...OPS),
      args: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      keyed: fc.boolean(),
    })
    .filter(({ id, op, args }) => JSON.stringify({ v: 1, id, ts: NOW, op, args }).length < 1200);

  test("valid datagrams round-trip", () => {
    fc.assert(
      fc.property(validDatagram, ({ id, op, args, keyed }) => {
        const key = keyed ? KEY : undefined;
        const req: ControlRequest = { v: 1, id, ts: NOW, op, args };
        const got = decodeRequest(encodeRequest(req, key), key, NOW);
        expect(got).toEqual({ ok: true, req: JSON.parse(JSON.stringify(req)), authenticated: keyed });
      }),
      { numRuns: 500 },
    );
  });

  test("mutations of valid datagrams never throw, and a mutated signed one is never accepted", () => {
    fc.assert(
      fc.property(
        validDatagram,
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 1500 }),
        ({ id, op, args, keyed }, flips, cut) => {
          const key = keyed ? KEY : undefined;
          const original = encodeRequest({ v: 1, id, ts: NOW, op, args }, key);
          const mutated = original.slice(0, Math.max(1, Math.min(cut, original.length)));
          for (const { at, value } of flips) mutated[at % mutated.length] = value;
          decodeIsTotal(mutated, key);
          const changed = mutated.length !== original.length || mutated.some((b, i) => b !== original[i]);
          if (keyed && changed) expect(decodeRequest(mutated, key, NOW).ok).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("any reply encodes within bounds and obeys anti-reflection", () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ minLength: 1, maxLength: MAX_ID }), { nil: null }),
        fc.oneof(
          fc.jsonValue().map((result) => ({ ok: true as const, result })),
          fc.record({ code: fc.constantFrom(...ERROR_CODES), message: fc.string({ maxLength: 3000 }) }),
        ),
        fc.integer({ min: 1, max: 2000 }),
        fc.boolean(),
        (id, body, requestBytes, authenticated) => {
          const reply = "ok" in body ? okReply(id, body.result) : errorReply(id, body.code, body.message);
          expect(encodeReply(reply).length).toBeLessThanOrEqual(MAX_DATAGRAM);
          expect(decodeReply(encodeReply(reply)).ok).toBe(true);
          const sent = replyFor(reply, requestBytes, authenticated);
          if (sent) expect(replyFitsFor(sent.length, requestBytes, authenticated)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
