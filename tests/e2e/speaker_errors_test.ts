/**
 * The speaker's queue when things go wrong (issue 11, "Cancel and errors"), through a real
 * `pacer serve` writing to `cmd:cat`: a corrupt track in the middle is skipped and the next plays
 * right after the one before; a decoder that dies halfway is a failed track, not a stuck queue;
 * cancel of the playing track, of a queued one and of an unknown id; a missing file and a path out
 * of the media root are one-line errors that lose nothing queued; a duplicated queue datagram
 * queues once; a full queue refuses more (`limit`) and loses nothing, and so does one client's
 * share of it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { runPacer } from "../helpers/pacer.ts";
import { rawPeer, requestBytes } from "../server/serve_fixture.ts";
import { decodeReply } from "../../protocol/control.ts";
import { ControlClient } from "../../client/control_client.ts";
import { endSpeakerServe, expectedOutput, type SpeakerServe, startSpeakerServe, type TestTrack, testSignal, wavTrack } from "./speaker_fixture.ts";

const OUT = parseSampleFormat("f32le:44100:2");
const FRAME = 8;
let serve: SpeakerServe | null = null;

afterEach(async () => {
  await endSpeakerServe(serve);
  serve = null;
});

const outputLines = (dir: string) => [`output = "cmd:cat > ${dir}/out.raw"`, `format = "f32le:44100:2"`, "idle_close = 0.3", "buffer_seconds = 2"];
const finishedOf = (speaker: { finished: { id: string; status: string }[] }) => speaker.finished.map((t) => `${t.id} ${t.status}`).reverse();

describe("speaker: track errors", () => {
  test("a folder swapped for a symlink out of the media root after the track was queued: the track fails when it loads, and nothing from outside is played", async () => {
    let tracks: TestTrack[] = [];
    serve = await startSpeakerServe(outputLines, [], (media) => {
      mkdirSync(join(media, "sub"), { mode: 0o755 });
      // a.wav is longer than the 2 s buffer, so sub/t.wav opens only once a second of it has played.
      tracks = [wavTrack(media, "a.wav", "s16le:44100:2", 3, 440), wavTrack(media, "b.wav", "s16le:44100:2", 0.3, 550)];
      wavTrack(media, "sub/t.wav", "s16le:44100:2", 0.3, 660);
    });
    // The same name outside the root, longer and of another tone.
    const outside = join(serve.dir, "outside");
    mkdirSync(outside, { mode: 0o755 });
    wavTrack(outside, "t.wav", "s16le:44100:2", 2, 880);
    for (const name of ["a.wav", "sub/t.wav", "b.wav"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    // While a.wav plays, before the next track loads, sub becomes a way out.
    renameSync(join(serve.mediaRoot, "sub"), join(serve.mediaRoot, "sub.real"));
    symlinkSync(outside, join(serve.mediaRoot, "sub"));
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["a.wav played", "sub/t.wav failed", "b.wav played"]);
    expect(speaker.finished.find((t: { id: string }) => t.id === "sub/t.wav").error).toContain("outside the media root");
    // The output is a.wav then b.wav: not a sample of the file outside.
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
  }, 30_000);

  test("a WAV corrupted after it was queued is skipped and the next track follows the one before it gaplessly", async () => {
    let tracks: TestTrack[] = [];
    serve = await startSpeakerServe(outputLines, [], (media) => {
      // a.wav is longer than the 2 s buffer, so bad.wav loads only once a second of it has played.
      tracks = [wavTrack(media, "a.wav", "s16le:44100:2", 3, 440), wavTrack(media, "b.wav", "s24le:48000:2", 0.4, 550)];
      wavTrack(media, "bad.wav", "s16le:44100:2", 0.3, 660);
    });
    // Queued while sound (a corrupt one is refused when queued), then broken before it loads.
    for (const name of ["a.wav", "bad.wav", "b.wav"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    writeFileSync(join(serve.mediaRoot, "bad.wav"), Buffer.from("RIFF\x10\x00\x00\x00WAVEjunkjunkjunk"));
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["a.wav played", "bad.wav failed", "b.wav played"]);
    // Named once: before, "bad.wav: bad.wav: chunk …".
    expect(speaker.finished.find((t: { id: string }) => t.id === "bad.wav").error).toBe('bad.wav: chunk "junk" of 1802401130 bytes before the audio data is too large');
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
    // Reported once, naming the track as queued.
    expect(serve.stderr().split("\n").filter((l) => l.includes("bad.wav:")).length).toBe(1);
  }, 30_000);

  test("a decoder that goes by the name's extension finds it: {path} names the held file with the track's extension", async () => {
    let tracks: TestTrack[] = [];
    // Plays only a path ending in .raw, as sox picks its reader by the extension.
    const byName = `raw = { command = "case {path} in *.raw) cat {path} ;; *) echo not a .raw name: {path} >&2; exit 9 ;; esac", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe(outputLines, [byName], (media) => {
      const format = parseSampleFormat("s16le:44100:2");
      const samples = testSignal(format, 0.5, 300);
      writeFileSync(join(media, "x.raw"), samples, { mode: 0o644 });
      tracks = [{ name: "x.raw", format, samples }];
    });
    expect((await serve.request("queue", { path: "x.raw", id: "x" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 1 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["x played"]);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
  }, 30_000);

  test("decoded tracks queued behind others play whole: what a decoder wrote before it exited is not lost while the buffer has no room", async () => {
    const tracks: TestTrack[] = [];
    const cat = `pcm = { command = "cat {path}", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe(outputLines, [cat], (media) => {
      const format = parseSampleFormat("s16le:44100:2");
      tracks.push(wavTrack(media, "a.wav", "s16le:44100:2", 1, 440));
      for (let i = 1; i <= 4; i++) {
        const samples = testSignal(format, 1, 200 + 100 * i);
        writeFileSync(join(media, `k${i}.pcm`), samples, { mode: 0o644 });
        tracks.push({ name: `k${i}.pcm`, format, samples });
      }
    });
    for (const t of tracks) expect((await serve.request("queue", { path: t.name, id: t.name })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.output === "released" && s.queue_length === 0 && s.playing === null, 30_000);
    // Before, the 2nd to 5th tracks lost 0.5 to 1.3 s each and were still reported played.
    expect(speaker.finished.every((t: { status: string }) => t.status === "played")).toBe(true);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
  }, 40_000);

  test("a decoder that gives nothing fails its track after the stall limit, the queue goes on, and what the decoder started is ended too", async () => {
    let tracks: TestTrack[] = [];
    // A shell that starts a process of its own which never writes: killing the shell alone left it running.
    const hang = `hang = { command = "sleep 987 # {path}", format = "s16le:44100:2" }`;
    // A shell that has exited, leaving a child that holds its stdout: the group was not killed then.
    const bg = `bg = { command = "(sleep 986 &) # {path}", format = "s16le:44100:2" }`;
    process.env.PACER_DECODER_STALL_MS = "1000";
    try {
      serve = await startSpeakerServe(outputLines, [hang, bg], (media) => {
        writeFileSync(join(media, "x.hang"), "", { mode: 0o644 });
        writeFileSync(join(media, "x.bg"), "", { mode: 0o644 });
        tracks = [wavTrack(media, "a.wav", "s16le:44100:2", 0.5, 440)];
      });
    } finally {
      delete process.env.PACER_DECODER_STALL_MS;
    }
    for (const name of ["x.hang", "x.bg", "a.wav"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["x.hang failed", "x.bg failed", "a.wav played"]);
    expect(speaker.finished.find((t: { id: string }) => t.id === "x.hang").error).toBe("x.hang: the decoder gave nothing for 1 s; skipping it");
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
    const left = Bun.spawnSync(["pgrep", "-f", "^sleep 98[67]$"]).stdout.toString().trim();
    expect(left).toBe("");
  }, 30_000);

  test("a decoder that exits non-zero halfway is a failed track and the queue goes on", async () => {
    let a: TestTrack;
    let b: TestTrack;
    // Writes the first 20000 bytes of the file, then fails.
    const dying = `raw = { command = "head -c 20000 {path}; echo broken pipe dream >&2; exit 3", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe(outputLines, [dying], (media) => {
      a = wavTrack(media, "a.wav", "s16le:44100:2", 0.4, 440);
      b = wavTrack(media, "b.wav", "s16le:44100:2", 0.4, 660);
      writeFileSync(join(media, "x.raw"), testSignal(parseSampleFormat("s16le:44100:2"), 1, 300), { mode: 0o644 });
    });
    for (const name of ["a.wav", "x.raw", "b.wav"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["a.wav played", "x.raw failed", "b.wav played"]);
    expect(speaker.finished.find((t: { id: string }) => t.id === "x.raw").error).toMatch(/x\.raw: decoder exited with status 3: broken pipe dream/);
    const got = readFileSync(join(serve.dir, "out.raw"));
    const head = await expectedOutput([a!], OUT);
    const tail = await expectedOutput([b!], OUT);
    expect(got.subarray(0, head.length).equals(head)).toBe(true);
    expect(got.subarray(got.length - tail.length).equals(tail)).toBe(true);
    // What the decoder gave before it died plays (whole blocks of it), never more than it gave.
    const middle = got.length - head.length - tail.length;
    expect(middle % FRAME).toBe(0);
    expect(middle).toBeLessThanOrEqual((20000 / 4) * FRAME);
  }, 30_000);
});

describe("speaker: cancel, clear and bad requests", () => {
  test("a track that can never play is refused when queued, in one line, and what is queued plays on", async () => {
    let tracks: TestTrack[] = [];
    serve = await startSpeakerServe(outputLines, [], (media) => {
      tracks = [wavTrack(media, "a.wav", "s16le:44100:2", 0.5, 440)];
      writeFileSync(join(media, "song.xyz"), "not audio", { mode: 0o644 });
      writeFileSync(join(media, "notes.wav"), "just some text, not a WAV", { mode: 0o644 });
    });
    expect((await serve.request("pause")).ok).toBe(true);
    expect((await serve.request("queue", { path: "a.wav", id: "a" })).ok).toBe(true);
    const ctl = (...words: string[]) => runPacer(["ctl", "--server", serve!.address, ...words]);
    const noDecoder = await ctl("queue", "song.xyz");
    expect(noDecoder.stderr).toBe(`pacer: error: queue: bad_request: song.xyz: no decoder for ".xyz" files (configured: wav); add one under [speaker.decoders]\n`);
    expect(noDecoder.code).toBe(1);
    const notWav = await ctl("queue", "notes.wav");
    expect(notWav.stderr).toBe("pacer: error: queue: bad_request: notes.wav: not a WAV file (no RIFF/WAVE header)\n");
    expect(notWav.code).toBe(1);
    expect((await serve.request("status", { queue: true })).result.queue).toEqual([{ id: "a", path: "a.wav" }]);
    expect((await serve.request("resume")).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 1 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["a played"]);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
  }, 30_000);

  test("cancel the playing track, a queued one and an unknown id; bad paths are one-line errors that lose nothing", async () => {
    let tracks: TestTrack[] = [];
    serve = await startSpeakerServe(outputLines, [], (media) => {
      tracks = [
        wavTrack(media, "long1.wav", "s16le:44100:2", 4, 440),
        wavTrack(media, "long2.wav", "s16le:44100:2", 4, 550),
        wavTrack(media, "short.wav", "s16le:44100:2", 0.3, 660),
      ];
    });
    const ctl = (...words: string[]) => runPacer(["ctl", "--server", serve!.address, ...words]);
    for (const t of tracks) expect((await ctl("queue", t.name, "--id", t.name.replace(".wav", ""))).code).toBe(0);

    const missing = await ctl("queue", "missing.wav");
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("not_found");
    const outside = await ctl("queue", "../etc/passwd");
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("forbidden");
    const again = await ctl("queue", "short.wav", "--id", "short");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already in the queue");

    const seen = await serve.waitSpeaker((s) => s.playing?.id === "long1" && s.playing.position > 0.3);
    const seenAt = performance.now();
    const status = await ctl("status");
    expect(status.stdout).toMatch(/speaker: playing, output open, 2 queued/);
    expect(status.stdout).toMatch(/0\. long2\tlong2\.wav\n\s+1\. short\tshort\.wav/);

    const queued = await ctl("cancel", "long2");
    expect(queued.code).toBe(0);
    expect(queued.stdout).toBe("cancelled long2 (was queued)\n");
    const playing = await ctl("--json", "cancel", "long1");
    const cancelledAfterS = (performance.now() - seenAt) / 1000;
    expect(playing.code).toBe(0);
    expect(JSON.parse(playing.stdout).result).toEqual({ id: "long1", was: "playing" });
    const unknown = await ctl("cancel", "nope");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("not_found");

    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["long2 cancelled", "long1 cancelled", "short played"]);
    const got = readFileSync(join(serve.dir, "out.raw"));
    const [long1, , short] = await Promise.all(tracks.map((t) => expectedOutput([t], OUT)));
    // The cancelled track stopped partway (its start played), and the next one followed it whole.
    expect(got.subarray(got.length - short!.length).equals(short!)).toBe(true);
    const played = got.length - short!.length;
    // It stopped where the cancel found it: no later than the playhead seen, plus the time until
    // the cancel was answered (three ctl runs: seconds on a loaded host), plus what the outputs
    // had read ahead (0.1 s) and the lead, with slack for the status's age.
    expect(played).toBeLessThan(long1!.length);
    expect(played / (long1!.length / 4)).toBeLessThan(seen.playing!.position + cancelledAfterS + 0.5);
    expect(got.subarray(0, played).equals(long1!.subarray(0, played))).toBe(true);
  }, 30_000);

  test("clear while the next track waits for room in the buffer: the tracks queued after it play (the speaker stopped for good)", async () => {
    let a: TestTrack;
    let h: TestTrack;
    serve = await startSpeakerServe(outputLines, [], (media) => {
      a = wavTrack(media, "a.wav", "s16le:44100:2", 1.5, 440);
      wavTrack(media, "b.wav", "s16le:44100:2", 0.5, 550);
      h = wavTrack(media, "h.wav", "s16le:44100:2", 0.5, 660);
    });
    // 1.5 s and five of 0.5 s: the 2 s buffer holds a and b1, and b2's load waits for room.
    expect((await serve.request("queue", { path: "a.wav", id: "a" })).ok).toBe(true);
    for (let i = 1; i <= 5; i++) expect((await serve.request("queue", { path: "b.wav", id: `b${i}` })).ok).toBe(true);
    await Bun.sleep(200);
    expect((await serve.request("clear")).result).toEqual({ cleared: 5 });
    expect((await serve.request("queue", { path: "h.wav", id: "h" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.output === "released" && s.finished[0]?.id === "h");
    expect(finishedOf(speaker).slice(-2)).toEqual(["a played", "h played"]);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput([a!, h!], OUT))).toBe(true);
  }, 30_000);

  test("tracks queued while paused wait in the queue: status lists them, clear removes them, and after resume only what is queued then plays", async () => {
    let z: TestTrack;
    serve = await startSpeakerServe(outputLines, [], (media) => {
      wavTrack(media, "x.wav", "s16le:44100:2", 0.5, 440);
      z = wavTrack(media, "z.wav", "s16le:44100:2", 0.5, 660);
    });
    expect((await serve.request("pause")).ok).toBe(true);
    expect((await serve.request("queue", { path: "x.wav", id: "x1" })).result).toEqual({ id: "x1", position: 0 });
    expect((await serve.request("queue", { path: "x.wav", id: "x2" })).result).toEqual({ id: "x2", position: 1 });
    await Bun.sleep(500); // the outputs open, paused
    const page = await serve.request("status", { queue: true });
    expect(page.result.queue).toEqual([{ id: "x1", path: "x.wav" }, { id: "x2", path: "x.wav" }]);
    expect((await serve.request("clear")).result).toEqual({ cleared: 2 });
    expect((await serve.request("resume")).ok).toBe(true);
    expect((await serve.request("queue", { path: "z.wav", id: "z" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.output === "released" && s.finished[0]?.id === "z");
    expect(finishedOf(speaker)).toEqual(["x1 cancelled", "x2 cancelled", "z played"]);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput([z!], OUT))).toBe(true);
  }, 30_000);

  test("a full queue refuses more with limit in one line and keeps every track queued, also after a reload lowers the limit; a padded name is kept and logged short", async () => {
    // Before, the queue had no bound: queue requests from many addresses grew it to 52,219 tracks
    // and the server by 170 MB in 50 s, each request of a 1 KB name logging a 1 KB line.
    serve = await startSpeakerServe(
      outputLines,
      [],
      (media) => {
        wavTrack(media, "tone.wav", "s16le:44100:2", 0.5, 440);
        symlinkSync(".", join(media, "loop")); // a long name that is no padding: loop/loop/…/tone.wav
      },
      ["max_queued_tracks = 4"],
    );
    const padded = "./".repeat(500) + "tone.wav";
    // Paused, nothing begins: every track queued stays waiting.
    expect((await serve.request("pause")).ok).toBe(true);
    for (let i = 0; i < 4; i++) expect((await serve.request("queue", { path: padded, id: `q${i}` })).result).toEqual({ id: `q${i}`, position: i });
    const full = await serve.request("queue", { path: "tone.wav", id: "q4" });
    expect(full.ok).toBe(false);
    expect(full.error).toEqual({
      code: "limit",
      message: "the speaker's queue holds 4 tracks, its limit (limits.max_queued_tracks = 4); queue more as these play, or clear it",
    });
    const waiting = [0, 1, 2, 3].map((i) => ({ id: `q${i}`, path: "tone.wav" }));
    expect((await serve.request("status", { queue: true })).result.queue).toEqual(waiting);

    // A reload that lowers the limit takes nothing away: the queue is only refused more.
    writeFileSync(serve.configPath, readFileSync(serve.configPath, "utf8").replace("max_queued_tracks = 4", "max_queued_tracks = 2"));
    expect((await serve.request("reload")).ok).toBe(true);
    const lowered = await serve.request("queue", { path: "tone.wav", id: "q4" });
    expect(lowered.error?.message).toContain("holds 4 tracks, its limit (limits.max_queued_tracks = 2)");
    expect((await serve.request("status", { queue: true })).result.queue).toEqual(waiting);
    // Room made by cancelling is room again.
    for (const id of ["q0", "q1", "q2"]) expect((await serve.request("cancel", { id })).ok).toBe(true);
    const long = "loop/".repeat(30) + "tone.wav"; // 158 characters; Linux follows 40 links at most
    expect((await serve.request("queue", { path: long, id: "q4" })).result).toEqual({ id: "q4", position: 1 });

    // Every queued line is short: the padding taken out of the name, a long name cut to 120 characters.
    const queuedLines = serve.stderr().split("\n").filter((line) => line.includes("speaker: queued"));
    expect(queuedLines).toHaveLength(5);
    for (const line of queuedLines.slice(0, 4)) expect(line).toContain("media=tone.wav ");
    expect(queuedLines[4]).toContain(`media=${long.slice(0, 119)}… `);
    for (const line of queuedLines) expect(line.length).toBeLessThan(200);
  }, 30_000);

  test("one client cannot fill the queue every client shares: past its share it is refused (limit), and another address still queues", async () => {
    serve = await startSpeakerServe(outputLines, [], (media) => wavTrack(media, "tone.wav", "s16le:44100:2", 0.5, 440), ["max_queued_tracks_per_client = 2"]);
    const other = await ControlClient.open(serve.address, undefined, "127.0.0.2");
    try {
      // Paused, nothing begins: every track queued stays waiting.
      expect((await serve.request("pause")).ok).toBe(true);
      for (const id of ["a0", "a1"]) expect((await serve.request("queue", { path: "tone.wav", id })).ok).toBe(true);
      const refused = await serve.request("queue", { path: "tone.wav", id: "a2" });
      expect(refused.error).toEqual({
        code: "limit",
        message: "this client (127.0.0.1) has 2 tracks waiting, its share of the speaker's queue (limits.max_queued_tracks_per_client = 2); queue more as these play",
      });
      const theirs = await other.request("queue", { path: "tone.wav", id: "b0" }, { ttlMs: 3000 });
      expect(theirs.ok && theirs.result).toEqual({ id: "b0", position: 2 });
      // Room made is room again for the client that made it.
      expect((await serve.request("cancel", { id: "a0" })).ok).toBe(true);
      expect((await serve.request("queue", { path: "tone.wav", id: "a2" })).ok).toBe(true);
      expect((await serve.request("status", { queue: true })).result.queue.map((t: { id: string }) => t.id)).toEqual(["a1", "b0", "a2"]);
    } finally {
      other.close();
    }
  }, 30_000);

  test("clear empties the queue while the playing track plays on; a duplicated queue datagram queues once", async () => {
    serve = await startSpeakerServe(outputLines, [], (media) => {
      wavTrack(media, "a.wav", "s16le:44100:2", 1.5, 440);
      wavTrack(media, "b.wav", "s16le:44100:2", 0.5, 550);
    });
    const peer = await rawPeer();
    try {
      const datagram = requestBytes("queue", { path: "a.wav", id: "a" }, { id: "dup-1" });
      peer.send(datagram, serve.port);
      peer.send(datagram, serve.port);
      const first = decodeReply((await peer.next())!);
      const second = decodeReply((await peer.next())!);
      expect(first.ok && first.reply.ok && first.reply.result).toEqual({ id: "a", position: 0 });
      expect(second.ok && second.reply).toEqual(first.ok && first.reply);
    } finally {
      peer.close();
    }
    for (const id of ["b1", "b2"]) expect((await serve.request("queue", { path: "b.wav", id })).ok).toBe(true);
    const page = await serve.request("status", { queue: true });
    expect(page.result.queue).toEqual([{ id: "b1", path: "b.wav" }, { id: "b2", path: "b.wav" }]);
    const cleared = await serve.request("clear");
    expect(cleared.result).toEqual({ cleared: 2 });
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(finishedOf(speaker)).toEqual(["b1 cancelled", "b2 cancelled", "a played"]);
  }, 30_000);
});
