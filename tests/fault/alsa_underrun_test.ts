/**
 * Fault: an ALSA underrun, on a PCM with a real-time clock (tests/helpers/alsa_clock_pcm.c, an
 * ioplug plugin loaded by the real libasound; the `file` and `null` PCMs take everything at once
 * and can never run dry).
 *
 * - A device whose clock runs 10% fast drains pacer's two periods of lead and runs dry, again and
 *   again, as a card would whose crystal disagrees with the host's clock by that much. pacer
 *   recovers each time, warns once, counts them all, and every frame is still played, in order.
 *   The UDP output of the same job keeps its schedule and gets every byte; `play` exits 0, since
 *   nothing was lost.
 * - An input that stalls for a second runs an on-time device dry once, as it would a card: pacer
 *   recovers, warns once, and what comes after the stall plays on, every frame of it.
 * - A device 20% slow is full when pacer offers more (non-blocking: EAGAIN, not a block inside
 *   libasound as with the `file` PCM in slow_pcm_test.ts). It falls behind the UDP output, which
 *   keeps its schedule, and plays every frame.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libasoundUnavailable } from "../../backends/alsa/libasound.ts";
import { clockPcmConfig, clockPcmLibrary, clockPcmUnavailable } from "../helpers/alsa_clock.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-underrun-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FORMAT = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const SECONDS = 3;
const samples = rampS16(FORMAT.rate * SECONDS);
const wav = join(dir, "three.wav");
writeWav(wav, FORMAT, samples);

// CI installs gcc and libasound2-dev, so there a missing one fails the test instead of skipping it.
const skip = libasoundUnavailable() !== null || (clockPcmUnavailable() !== null && !process.env.CI);

/** A device with its own clock: what it heard, and how often it ran dry, by its own count. */
function clockDevice(name: string, speed: number) {
  const heard = join(dir, `${name}.raw`);
  const xruns = join(dir, `${name}.xruns`);
  const rc = join(dir, `${name}.asoundrc`);
  writeFileSync(rc, clockPcmConfig(clockPcmLibrary(), { [name]: { speed, file: heard, xruns } }));
  return {
    env: { ALSA_CONFIG_PATH: rc },
    heard: () => readFileSync(heard),
    /** Bytes handed to the device so far (it writes them down as it is given them, not as it plays them). */
    given: () => (existsSync(heard) ? statSync(heard).size : 0),
    xruns: () => (existsSync(xruns) ? Number(readFileSync(xruns, "utf8")) : 0),
  };
}

/** The UDP output beside the device: every byte, in order, spread over the stream's own length. */
function expectOnSchedule(packets: { data: Uint8Array; atUs: number }[]) {
  expect(Buffer.concat(packets.map((p) => p.data)).equals(samples)).toBe(true);
  const spanS = (packets.at(-1)!.atUs - packets[0]!.atUs) / 1e6;
  expect(spanS).toBeGreaterThan(SECONDS - 0.3);
  expect(spanS).toBeLessThan(SECONDS + 0.5);
}

async function finish(child: ReturnType<typeof startPacer>) {
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, stderr };
}

describe.skipIf(skip)("an ALSA underrun, on a device with a real clock", () => {
  test("a device 10% fast runs dry again and again: recovered, warned once, counted, every frame played; the UDP output keeps its schedule", async () => {
    const device = clockDevice("fast", 1.1);
    const rx = await udpReceiver();
    const { code, stderr } = await finish(startPacer(["play", wav, "--to", "alsa:fast", "--to", `udp://127.0.0.1:${rx.port}`, "-v"], { env: device.env }));
    await Bun.sleep(100);
    await rx.settled();
    rx.close();

    expect(code, stderr).toBe(0);
    const warnings = stderr.split("\n").filter((l) => l.includes("underrun"));
    expect(warnings.filter((l) => l.startsWith("pacer: warn: alsa:fast: underrun (the device ran dry); counting further ones")), stderr).toHaveLength(1);
    // Its two periods of lead (40 ms) last 0.4 s at 10% fast, and then one period less than 20 ms.
    const ranDry = device.xruns();
    expect(ranDry).toBeGreaterThan(10);
    // pacer's count is the device's, but for the time it ran dry at the very end, after the last
    // frame, as pacer waited to drain: that is no gap in the stream, and pacer does not count it.
    const counted = Number(/dest=alsa:fast .*errors="underrun=(\d+)"/.exec(stderr)?.[1]);
    expect(counted, stderr).toBeGreaterThanOrEqual(ranDry - 1);
    expect(counted).toBeLessThanOrEqual(ranDry);
    // Each underrun is a gap in what is heard, never a loss: every frame, in order.
    expect(device.heard().equals(samples)).toBe(true);

    expectOnSchedule(rx.packets);
  }, 30_000);

  test("an input that stalls for a second runs the device dry once: recovered, warned once, and every frame played", async () => {
    // Periods of 100 ms, so the device holds 200 ms ahead: on time, it never runs dry, even on a loaded host.
    const device = clockDevice("steady", 1);
    const child = startPacer(["play", "-", "--format", "s16le:44100:2", "--to", "alsa:steady?buffer=400&period=100", "-v"], { env: device.env });
    const done = finish(child);
    const half = samples.length / 2;
    child.stdin.write(samples.subarray(0, half));
    // Once the device has been given the first half (two periods ahead of playing it), a stall of
    // well over those 200 ms, however long pacer took to start on a loaded host.
    const givenBy = Date.now() + 20_000;
    while (device.given() < half && Date.now() < givenBy) await Bun.sleep(20);
    await Bun.sleep(1_200);
    child.stdin.end(samples.subarray(half));
    const { code, stderr } = await done;

    expect(code, stderr).toBe(0);
    // The stall, and nothing else, ran it dry; pacer's count agrees with the device's.
    expect(device.xruns()).toBe(1);
    expect(stderr).toMatch(/dest="alsa:steady\?buffer=400&period=100" .*gaps=[12] errors="underrun=1"/);
    expect(stderr.split("\n").filter((l) => l.includes("underrun (the device ran dry)"))).toHaveLength(1);
    expect(device.heard().equals(samples)).toBe(true);
  }, 30_000);

  test("a device 20% slow fills and takes less (EAGAIN): it plays every frame late, the UDP output keeps its schedule, exit 0", async () => {
    const device = clockDevice("slow", 0.8);
    const rx = await udpReceiver();
    const started = performance.now();
    const { code, stderr } = await finish(startPacer(["play", wav, "--to", "alsa:slow", "--to", `udp://127.0.0.1:${rx.port}`], { env: device.env }));
    const tookS = (performance.now() - started) / 1000;
    await Bun.sleep(100);
    await rx.settled();
    rx.close();

    expect(code, stderr).toBe(0);
    expect(stderr).toBe("");
    // 0.75 s behind at the end: within the 2 s an output may lag, so nothing is skipped, and play waits for it.
    expect(device.heard().equals(samples)).toBe(true);
    expect(device.xruns()).toBe(0);
    expect(tookS).toBeGreaterThan(SECONDS / 0.8);
    expectOnSchedule(rx.packets);
  }, 30_000);
});
