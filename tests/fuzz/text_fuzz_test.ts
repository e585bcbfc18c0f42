/**
 * Fuzzing the text parsers (issue 16): control requests (as datagrams, with and without a key),
 * the TOML config, endpoint URLs, sample format specs, the pool file, and the acquisition
 * handshake. Structured inputs (valid text with parts replaced) reach the deep checks; random text
 * covers the rest. Each parser reads its input or refuses it with its own error, nothing else.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { UsageError } from "../../foundation/errors.ts";
import { parseEndpoint } from "../../foundation/net/endpoint.ts";
import { CidrError, parseCidr, parseHostPort } from "../../foundation/net/address.ts";
import { decodeReply, decodeRequest, encodeRequest, OPS } from "../../protocol/control.ts";
import { greetingLine, parseGreeting } from "../../protocol/live_handshake.ts";
import { parsePoolFile, PoolFileError, WordSplitError } from "../../protocol/pool_file.ts";
import { FormatSpecError, formatToString, parseSampleFormat } from "../../protocol/sample_format.ts";
import { ConfigError, DEFAULT_CONFIG_TOML, KeyFileError, parseConfig } from "../../server/config.ts";
import { FUZZ_TIMEOUT_MS, fuzz, mutated, refusal } from "./fuzz.ts";

const utf8 = new TextEncoder();
const KEY = utf8.encode("0123456789abcdef0123456789abcdef");

/** Text that looks like `pieces` joined, with any of them swapped for arbitrary text. */
function textLike(pieces: string[][]): fc.Arbitrary<string> {
  const wild = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 12 }), fc.constantFrom("", ":", "@", "?", "&", "=", "[", "]", "%00", "\n", "..", "-1", "1e309", "NaN"));
  return fc.tuple(...pieces.map((choices) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...choices) }, { weight: 1, arbitrary: wild }))).map((parts) => parts.join(""));
}

describe("fuzz: control requests", () => {
  const request = fc
    .record({
      id: fc.string({ minLength: 1, maxLength: 16 }),
      op: fc.constantFrom(...OPS),
      ts: fc.integer({ min: 0, max: 2_000_000_000_000 }),
      args: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
      keyed: fc.boolean(),
    })
    .map(({ id, op, ts, args, keyed }) => {
      try {
        return encodeRequest({ v: 1, id, op, ts, args }, keyed ? KEY : undefined);
      } catch {
        return utf8.encode(JSON.stringify({ v: 1, id, op, ts, args }));
      }
    });
  test("any datagram is decoded, answered with an error, or dropped: never a throw", () => {
    const input = fc.tuple(fc.oneof(request.chain((r) => mutated(r, 70_000)), request), fc.boolean(), fc.integer({ min: 0, max: 2_000_000_000_000 }));
    fuzz("control-request", input, ([bytes, withKey, now]) => {
      const result = decodeRequest(bytes, withKey ? KEY : undefined, now);
      expect(typeof result.ok).toBe("boolean");
      decodeReply(bytes);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: the TOML config", () => {
  const lines = DEFAULT_CONFIG_TOML.split("\n");
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
    fc.constantFrom('"0.0.0.0:7070"', '"[::1]:7070"', "-1", "1e400", "nan", "inf", '"../../etc"', "[", "{", '"""', "true", '"udp://127.0.0.1:1"', "[[live]]", "[speaker]"),
    fc.string({ maxLength: 20 }),
  );
  const mutatedConfig = fc.array(fc.tuple(fc.nat({ max: lines.length - 1 }), value), { maxLength: 6 }).map((edits) => {
    const out = [...lines];
    for (const [at, v] of edits) {
      const eq = out[at]!.indexOf("=");
      out[at] = eq > 0 ? `${out[at]!.slice(0, eq + 1)} ${v}` : `${out[at]} ${v}`;
    }
    return out.join("\n");
  });
  test("a config is read or refused with a ConfigError naming the problem", () => {
    fuzz("config", fc.oneof(mutatedConfig, fc.string({ maxLength: 400 })), (text) => {
      refusal(() => parseConfig(text, "fuzz.toml"), [ConfigError, KeyFileError]);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: endpoint URLs and addresses", () => {
  const url = textLike([
    ["udp://", "rtp://", "tcp://", "UDP://", "http://", "udp:/"],
    ["127.0.0.1", "@", "@239.1.1.1", "[::1]", "[ff0e::1]", "localhost", "", "256.1.1.1", "[::1"],
    [":5004", ":0", ":65536", ":", ":99999999999999999999"],
    ["", "?pkt=7", "?ttl=4&iface=lo", "?sap=1&ptime=0.125", "?=", "?a", "?pkt=1&pkt=2"],
  ]);
  test("an endpoint URL is parsed or refused with a UsageError; a parsed one has a port in range", () => {
    fuzz("endpoint", fc.oneof(url, fc.string({ maxLength: 60 })), (text) => {
      const endpoint = refusal(() => parseEndpoint(text), [UsageError]);
      if (endpoint) {
        expect(endpoint.port).toBeGreaterThanOrEqual(1);
        expect(endpoint.port).toBeLessThanOrEqual(65_535);
      }
      refusal(() => parseEndpoint(text, ["pkt", "ttl"]), [UsageError]);
      parseHostPort(text);
      refusal(() => parseCidr(text), [CidrError]);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: sample format specs", () => {
  const spec = textLike([
    ["s16le", "s24le", "s24be", "s32le", "f32le", "u8", "s16be", "S16LE", ""],
    [":", "", "::"],
    ["44100", "48000", "0", "-1", "1e9", "44100.5", "0x10"],
    [":", ""],
    ["2", "1", "0", "255", "65536", ""],
  ]);
  test("a spec is parsed or refused with a FormatSpecError; a parsed one prints back to itself", () => {
    fuzz("format-spec", fc.oneof(spec, fc.string({ maxLength: 30 })), (text) => {
      const format = refusal(() => parseSampleFormat(text), [FormatSpecError]);
      if (format) expect(parseSampleFormat(formatToString(format))).toEqual(format);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: the pool file", () => {
  const line = textLike([
    ["play ", "stop ", "# ", "", "   "],
    ["film.ts", "'a b'", '"a \\" b"', "\\", "'", '"', "a\\ b"],
    [" --to ", " ", ""],
    ["udp://127.0.0.1:5000", "'rtp://h:1?pkt=7'", ""],
  ]);
  test("a pool file is read or refused with every bad line named", () => {
    fuzz("pool-file", fc.oneof(fc.array(line, { maxLength: 20 }).map((l) => l.join("\n")), fc.string({ maxLength: 300 })), (text) => {
      const commands = refusal(() => parsePoolFile(text, "fuzz.pool"), [PoolFileError, WordSplitError]);
      if (commands) for (const c of commands) expect(c.words.length).toBeGreaterThan(0);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: the acquisition handshake", () => {
  const nonce = fc.stringMatching(/^[0-9a-f]{64}$/);
  test("any greeting line is read or ignored, and every greeting pacer writes reads back", () => {
    const line = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.constantFrom("PACER-LIVE 1 ", "PACER-LIVE 2 ", "PACER-LIVE 1"), fc.string({ maxLength: 80 })).map(([a, b]) => a + b),
    );
    fuzz("handshake", fc.tuple(line, nonce), ([text, n]) => {
      parseGreeting(text);
      for (const greeting of [{ state: "open" as const }, { state: "busy" as const }, { state: "key" as const, nonce: n }]) {
        expect(parseGreeting(greetingLine(greeting).trimEnd())).toEqual(greeting);
      }
    });
  }, FUZZ_TIMEOUT_MS);
});
