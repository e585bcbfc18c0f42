/**
 * Standard input always ends (sources/stream_source.ts, stdinReadable). A source pauses its input
 * when its queue is full and resumes it as a job reads; Bun's own `process.stdin` sometimes never
 * emits 'end' when a pause in a 'data' handler meets a resume soon after (a CI run of `play -`
 * sent every packet, then waited for ever). Story: a producer writes 5 MB into a pipe and closes
 * it, and a reader that pauses on every chunk and resumes a microtask later sees every byte and
 * the end, every time: 20 runs. With `process.stdin` in its place, 6 of 30 such runs hung here.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { REPO } from "../helpers/pacer.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const BYTES = 5_000_000;
const reader = join(tmp.dir, "reader.ts");
writeFileSync(
  reader,
  `import { stdinReadable } from ${JSON.stringify(join(REPO, "sources", "stream_source.ts"))};
const input = stdinReadable();
let n = 0;
input.on("data", (chunk) => { n += chunk.length; input.pause(); queueMicrotask(() => input.resume()); });
input.on("end", () => { console.log("end " + n); process.exit(0); });
setTimeout(() => { console.log("no end after " + n); process.exit(1); }, 5000);
`,
);
const input = join(tmp.dir, "input.bin");
writeFileSync(input, Buffer.alloc(BYTES, 7));

/** `cat input | bun reader.ts`: what the reader printed. */
function pipeThrough(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", `cat "${input}" | "${process.execPath}" "${reader}"`], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => resolve(out.trim()));
  });
}

test("stdin piped and closed ends, every byte read, under pause and resume: 20 runs", async () => {
  const results: string[] = [];
  for (let run = 0; run < 20; run++) results.push(await pipeThrough());
  expect(results).toEqual(Array.from({ length: 20 }, () => `end ${BYTES}`));
}, 60_000);
