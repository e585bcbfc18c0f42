/**
 * /metrics and /status bodies (server/rendered_body.ts): rendered at most once per max age, one
 * render shared by the requests that come while it runs, and a long render given out in slices,
 * with the event loop (the sends due) turning between them, the parts put together in order.
 */
import { expect, test } from "bun:test";
import { LineParts, RenderedBody } from "../../server/rendered_body.ts";

/** A render of `pieces` pieces, each `pieceMs` of busy work; counts its runs and the loop turns it saw. */
function slowRender(pieces: number, pieceMs: number) {
  const seen = { renders: 0, turnsBetween: 0 };
  let turned = false;
  const tick = () => {
    turned = true;
  };
  const render = function* () {
    seen.renders++;
    const parts: string[] = [];
    for (let i = 0; i < pieces; i++) {
      turned = false;
      setImmediate(tick);
      const until = performance.now() + pieceMs;
      while (performance.now() < until) {}
      parts.push(`piece ${i}\n`);
      yield;
      if (turned) seen.turnsBetween++;
    }
    return parts;
  };
  return { render, seen };
}

test("a render longer than a slice lets the event loop turn between pieces, and its parts come out whole and in order", async () => {
  const { render, seen } = slowRender(40, 0.1);
  const body = new RenderedBody(render, 1_000);
  const text = new TextDecoder().decode(await body.bytes(performance.now()));
  expect(text).toBe(Array.from({ length: 40 }, (_, i) => `piece ${i}\n`).join(""));
  // 4 ms of work in slices of 0.25 ms: the loop turned many times, but not after every piece.
  expect(seen.turnsBetween).toBeGreaterThanOrEqual(8);
  expect(seen.turnsBetween).toBeLessThan(40);
});

test("requests while a render runs share it, and a body younger than its max age is not rendered again", async () => {
  const { render, seen } = slowRender(20, 0.1);
  const body = new RenderedBody(render, 1_000);
  // A whole number: (now + 1000) - now was 999.9999999 for some of performance.now()'s values, so
  // the body counted as younger than its max age and the test failed now and then.
  const now = 1_000_000;
  const [a, b] = await Promise.all([body.bytes(now), body.bytes(now + 1)]);
  expect(seen.renders).toBe(1);
  expect(b).toBe(a);
  expect(await body.bytes(now + 999)).toBe(a);
  expect(seen.renders).toBe(1);
  await body.bytes(now + 1_000);
  expect(seen.renders).toBe(2);
});

test("lines gathered in parts join to the same text as one join, another's parts after this one's", () => {
  const lines = Array.from({ length: 1_000 }, (_, i) => `line ${i}`);
  const head = new LineParts();
  const tail = new LineParts();
  lines.slice(0, 700).forEach((l) => head.push(l));
  tail.push(...lines.slice(700));
  head.append(tail);
  const parts = head.parts();
  expect(parts.length).toBeGreaterThan(1);
  expect(parts.join("")).toBe(lines.join("\n") + "\n");
});
