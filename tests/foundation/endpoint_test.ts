/**
 * Endpoint URLs: an option given twice is refused (which value would win is a guess the user did
 * not mean to leave to pacer), and so is one the scheme does not know; both say which.
 */
import { expect, test } from "bun:test";
import { UsageError } from "../../foundation/errors.ts";
import { parseEndpoint } from "../../foundation/net/endpoint.ts";
import { runPacer } from "../helpers/pacer.ts";

test("an option given twice is a usage error naming it", () => {
  expect(() => parseEndpoint("udp://127.0.0.1:5000?pkt=1316&ttl=2&pkt=188", ["pkt", "ttl"])).toThrow(
    new UsageError('"udp://127.0.0.1:5000?pkt=1316&ttl=2&pkt=188": option "pkt" is given twice'),
  );
  expect(parseEndpoint("udp://127.0.0.1:5000?pkt=1316&ttl=2", ["pkt", "ttl"]).params.get("pkt")).toBe("1316");
});

test("play with pkt twice exits 2 with that one line, before anything is sent", async () => {
  const run = await runPacer(["play", "-", "--format", "s16le:8000:1", "--to", "rtp://127.0.0.1:9?pkt=100&pkt=200"], { stdin: new Uint8Array(16) });
  expect(run.code).toBe(2);
  expect(run.stderr).toBe('pacer: error: "rtp://127.0.0.1:9?pkt=100&pkt=200": option "pkt" is given twice\n');
});
