/** SkipRanges: stepping over garbage the way a destination's cursor does, checked against a plain model. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SkipRanges } from "../../pipeline/skip_ranges.ts";

/** Ranges in stream order, as the scanner reports them: [start, length] with gaps between. */
const rangesArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 30 })), { maxLength: 10 })
  .map((gaps) => {
    let at = 0;
    return gaps.map(([gap, length]) => {
      at += gap;
      const range: [number, number] = [at, length];
      at += length;
      return range;
    });
  });

describe("SkipRanges", () => {
  test("property: advance, skipFrom and cleanBytes agree with a byte-by-byte model", () => {
    fc.assert(
      fc.property(rangesArb, fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 300 }), (ranges, from, bytes) => {
        const skips = new SkipRanges();
        for (const [start, length] of ranges) skips.add(start, length);
        const garbage = (o: number) => ranges.some(([s, l]) => o >= s && o < s + l);
        // Model: walk clean bytes one at a time, then step over garbage right after them.
        let pos = from;
        let left = bytes;
        while (garbage(pos)) pos++;
        while (left > 0) {
          pos++;
          left--;
          while (garbage(pos)) pos++;
        }
        expect(skips.advance(from, bytes)).toBe(pos);
        let next = from;
        while (garbage(next)) next++;
        expect(skips.skipFrom(from)).toBe(next);
        let clean = 0;
        for (let o = from; o < from + bytes; o++) if (!garbage(o)) clean++;
        expect(skips.cleanBytes(from, from + bytes)).toBe(clean);
      }),
    );
  });

  test("property: a small ring, filled and released over and over (wrapping), agrees with the model of what it holds", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 9 }), fc.boolean()), { maxLength: 60 }), (steps) => {
        const skips = new SkipRanges(3);
        const model: [number, number][] = [];
        let at = 0;
        for (const [gap, length, release] of steps) {
          at += gap; // gap 0: adjacent to the last run, so it merges
          const last = model.at(-1);
          if (last && last[1] === at) last[1] = at + length;
          else if (model.length < 3) model.push([at, at + length]);
          skips.add(at, length);
          at += length;
          if (release && model.length > 0) {
            const upTo = model[0]![1];
            skips.releaseBelow(upTo);
            model.shift();
          }
          expect(skips.size).toBe(model.length);
          for (const [start, end] of model) {
            expect(skips.skipFrom(start)).toBe(end);
            expect(skips.nextStartAfter(start)).toBe(start);
          }
        }
      }),
    );
  });

  test("adjacent runs merge, released ranges are gone, and a full ring counts what it could not hold", () => {
    const skips = new SkipRanges(2);
    skips.add(10, 5);
    skips.add(15, 5);
    expect(skips.size).toBe(1);
    skips.add(30, 1);
    skips.add(40, 1);
    expect(skips.size).toBe(2);
    expect(skips.overflowed).toBe(1);
    expect(skips.total).toBe(11); // the run that did not fit is sent, so not counted as left out
    skips.releaseBelow(20);
    expect(skips.size).toBe(1);
    expect(skips.skipFrom(12)).toBe(12);
    expect(skips.nextStartAfter(0)).toBe(30);
  });
});
