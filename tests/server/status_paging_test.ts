/**
 * `status` stays within a datagram however much the server has to say (DESIGN.md: replies of at
 * most 1400 bytes, paged with offset and limit). Story: a real `pacer serve` with a dozen
 * configured recordings, more than the first page's header has room for, and three running jobs.
 * Before, the first page carried every recording: the jobs were crowded off it (one never showed
 * on any page), and past 1400 bytes every `status` failed with `too_large`. Now the recordings
 * go to pages of their own (`recordings_total`; `status {recordings: true}`), every job shows
 * once, and `pacer ctl status` prints them all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeReply, encodeRequest, MAX_DATAGRAM } from "../../protocol/control.ts";
import { MAIN, runPacer } from "../helpers/pacer.ts";
import { freeUdpPort, rawPeer, requestBytes, type ServeFixture, startServe } from "./serve_fixture.ts";

const RECORDINGS = Array.from({ length: 12 }, (_, i) => `evening-news-recording-number-${String(i).padStart(2, "0")}`);

let serve: ServeFixture;
const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

/** Every page of `status` (with `args`), as `pacer ctl --json` fetched them. */
async function pages(...args: string[]): Promise<Record<string, unknown>[]> {
  const run = await ctl("--json", "status", ...args);
  expect(run.stderr).toBe("");
  const replies = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as { ok: boolean; result: Record<string, unknown> });
  for (const reply of replies) expect(reply.ok).toBe(true);
  return replies.map((reply) => reply.result);
}

beforeAll(async () => {
  const port = await freeUdpPort();
  serve = await startServe({
    config: RECORDINGS.map((name) => `[[recording]]\nname = "${name}"\ncron = "0 20 * * 1-5"\nsource = "udp://@127.0.0.1:${port}"\nduration = 1800\nout = "${name}/%Y%m%d-%H%M.ts"`).join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
});

describe("status with more to say than a datagram holds", () => {
  test("the recordings page on their own; every job shows once; pacer ctl status prints them all", async () => {
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeUdpPort();
      const play = await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${port}`);
      expect(play.stderr).toBe("");
      jobs.push(play.stdout.trim().split(/\s/)[0]!);
    }

    // `pacer ctl --json` prints the status pages first, then the recordings' pages.
    const all = await pages();
    const first = all[0]!;
    expect(first.recordings).toBeUndefined();
    expect(first.recordings_total).toBe(RECORDINGS.length);
    const statusPages = all.filter((p) => "jobs" in p);
    const shown = statusPages.flatMap((p) => (p.jobs as { id: string }[]).map((j) => j.id));
    expect(shown.sort()).toEqual([...jobs].sort());
    // The first page holds a job beside its header, not only the header.
    expect((first.jobs as unknown[]).length).toBeGreaterThan(0);
    const recordingPages = all.filter((p) => "recordings" in p);
    const names = recordingPages.flatMap((p) => (p.recordings as { name: string }[]).map((r) => r.name));
    expect(names.sort()).toEqual([...RECORDINGS].sort());

    const text = await ctl("status");
    expect(text.code).toBe(0);
    for (const name of RECORDINGS) expect(text.stdout).toContain(`recording ${name}\tidle\tnext `);
    for (const job of jobs) expect(text.stdout).toContain(job);

    // A client that pads its request to 800 bytes only (an unauthenticated reply is never larger
    // than its request): the header gives up the lateness too, and a job still shows beside it.
    const peer = await rawPeer();
    try {
      peer.send(encodeRequest({ v: 1, id: "small-1", ts: Date.now(), op: "status", args: {} }, undefined, { padTo: 800 }), serve.port);
      const bytes = (await peer.next(2000))!;
      expect(bytes.length).toBeLessThanOrEqual(800);
      const decoded = decodeReply(bytes);
      if (!decoded.ok || !decoded.reply.ok) throw new Error(`status failed: ${new TextDecoder().decode(bytes)}`);
      const small = decoded.reply.result as Record<string, unknown>;
      expect(small.server).toBeDefined();
      expect(small.lateness).toBeUndefined();
      expect((small.jobs as unknown[]).length).toBeGreaterThan(0);
    } finally {
      peer.close();
    }

    for (const job of jobs) expect((await ctl("stop", job)).code).toBe(0);
  }, 30_000);

  test("a request padded too little for its first job beside the header is told how far to pad, at any size: the job was left out of the page unsaid", async () => {
    const job = (await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${await freeUdpPort()}`)).stdout.trim();
    const peer = await rawPeer();
    try {
      const hidden: number[] = [];
      for (let size = 300; size <= 1_000; size += 25) {
        peer.send(encodeRequest({ v: 1, id: `pad-${size}`, ts: Date.now(), op: "status", args: {} }, undefined, { padTo: size }), serve.port);
        const bytes = (await peer.next(2000))!;
        const decoded = decodeReply(bytes);
        if (!decoded.ok) throw new Error(decoded.message);
        const reply = decoded.reply;
        if (!reply.ok) {
          expect(reply.error.code).toBe("too_large");
          expect(reply.error.message ?? "pad").toContain("pad");
          continue;
        }
        // An ok first page: its one job is on it (no later page would show it).
        const page = reply.result as { jobs: { id: string }[]; next: number | null };
        if (!page.jobs.some((j) => j.id === job)) hidden.push(size);
      }
      expect(hidden).toEqual([]);
    } finally {
      peer.close();
    }
    expect((await ctl("stop", job)).code).toBe(0);
  }, 30_000);

  test("a job with too many destinations for a page is shown by its totals, and pacer ctl status prints them", async () => {
    const to: string[] = [];
    for (let i = 0; i < 12; i++) to.push("--to", `udp://127.0.0.1:${await freeUdpPort()}`);
    const job = (await ctl("play", "clip.ts", "--loop", ...to)).stdout.trim();
    await Bun.sleep(300);
    const shown = (await pages()).flatMap((p) => (p.jobs as Record<string, unknown>[] | undefined) ?? []).find((j) => j.id === job);
    expect(shown).toMatchObject({ destinations: 12, state: "running", persistent: false });
    expect(shown!.units as number).toBeGreaterThan(0);
    const text = (await ctl("status")).stdout;
    expect(text).toMatch(new RegExp(`^${job}\\tclip\\.ts\\tinterest [\\d.]+ s\\n  12 destinations\\trunning\\t[1-9]\\d* packets\\t[1-9]\\d* bytes$`, "m"));
    expect((await ctl("stop", job)).code).toBe(0);
  }, 30_000);

  test("status of a job with the most destinations (16) pages them, and pacer ctl status JOB prints every one", async () => {
    // Before, five destinations' pacing made `status {job}` larger than a datagram: a bare too_large.
    const urls: string[] = [];
    for (let i = 0; i < 16; i++) urls.push(`udp://127.0.0.1:${await freeUdpPort()}`);
    const job = (await ctl("play", "clip.ts", "--loop", ...urls.flatMap((url) => ["--to", url]))).stdout.trim();
    await Bun.sleep(300);

    // One request, as a keyless client pads it: the first page, the job's own fields on it.
    const peer = await rawPeer();
    try {
      peer.send(requestBytes("status", { job }), serve.port);
      const bytes = (await peer.next(2000))!;
      expect(bytes.length).toBeLessThanOrEqual(MAX_DATAGRAM);
      const decoded = decodeReply(bytes);
      if (!decoded.ok || !decoded.reply.ok) throw new Error(`status {job} failed: ${new TextDecoder().decode(bytes)}`);
      const first = decoded.reply.result as { job: { id: string; state: string; destinations: { pacing: unknown }[] }; total: number; offset: number; next: number | null };
      expect(first.job).toMatchObject({ id: job, state: "running" });
      expect(first).toMatchObject({ total: 16, offset: 0 });
      expect(first.job.destinations.length).toBeGreaterThan(0);
      expect(first.job.destinations[0]!.pacing).toBeDefined();
      expect(first.next).toBe(first.job.destinations.length);
    } finally {
      peer.close();
    }

    // `pacer ctl status JOB` follows the pages: every destination once, in order.
    const all = await pages(job);
    const shown = all.flatMap((p) => (p.job as { destinations: { to: string }[] }).destinations.map((d) => d.to));
    expect(shown).toEqual(urls);
    const text = await ctl("status", job);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^${job}\\tclip\\.ts\\tinterest [\\d.]+ s$`));
    expect(lines.slice(1).map((line) => line.split("\t")[0]!.trim())).toEqual(urls);
    for (const line of lines.slice(1)) expect(line).toMatch(/\trunning\t[1-9]\d* packets\t[1-9]\d* bytes$/);
    expect((await ctl("stop", job)).code).toBe(0);
  }, 30_000);

  test("pacer ctl status into a reader that went away (| head -1) says nothing: no EPIPE stack", async () => {
    // The reader closes its end at once; pacer writes only after the server's reply, a line per
    // page with --json (the recordings have pages of their own), so a second write meets the EPIPE.
    const line = `"${process.execPath}" "${MAIN}" ctl --server ${serve.address} --json status | { exec 0<&-; sleep 0.5; }`;
    const run = Bun.spawn(["bash", "-c", `${line}; echo "pacer exit \${PIPESTATUS[0]}" >&2`], { stderr: "pipe", stdout: "pipe" });
    const stderr = await new Response(run.stderr).text();
    await run.exited;
    expect(stderr).toBe("pacer exit 0\n");
  }, 30_000);
});
