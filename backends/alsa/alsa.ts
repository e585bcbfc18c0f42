/**
 * `alsa:DEVICE[?wait=SECONDS&buffer=MS&period=MS]`: playback through
 * libasound (backends/alsa/pcm.ts), to any PCM name (`default`, `hw:0,0`,
 * a name from an asoundrc).
 *
 * - The format is `--out-format`, else the input's. If the device runs at
 *   another rate, or takes neither that encoding nor that channel count (a
 *   card's hw: PCM), it is opened in the nearest it takes; that is logged and
 *   the backend's `format` carries it, so the job converts.
 * - A busy device (EBUSY) is retried with back-off from 50 ms doubling to
 *   1 s, for `wait` seconds (default 10, or the stream's `--device-wait`), then it is a
 *   TemporaryError (exit 75). No such device, or a refused format, is a
 *   PacerError (exit 1).
 * - `buffer` and `period` ask for the device buffer and period in ms
 *   (default 100 and 20, or half the buffer when that is less); units are
 *   one period, sent two periods ahead, so a period of more than half the
 *   buffer is a usage error.
 * - The device is written from its own thread (pcm_writer.ts): `send` copies
 *   the whole frames that fit into a ring of one device buffer and returns.
 *   A PCM that blocks inside libasound (a `file` plugin whose pipe is not
 *   read) so holds up nothing else; this output falls behind and the job
 *   treats it as it does a slow command. xruns are recovered by AlsaPcm and
 *   counted as "underrun".
 *
 * @example
 * ```ts
 * const out = await alsaBackend.create("alsa:default?buffer=200", stream, ctx);
 * const taken = out.send(unit, timing); // whole frames, maybe fewer than offered
 * await out.close();                    // plays out what was written
 * ```
 */
import { PacerError, TemporaryError, UsageError } from "../../foundation/errors.ts";
import { formatToString, sameFormat } from "../../protocol/sample_format.ts";
import { US_PER_MS, US_PER_S } from "../../scheduler/clock.ts";
import { type Scheduler, sleepOn } from "../../scheduler/scheduler.ts";
import { libasoundUnavailable, onAlsaLibMessage } from "./libasound.ts";
import { AlsaBusyError, AlsaError, AlsaPcm, DEFAULT_BUFFER_US, DEFAULT_PERIOD_US } from "./pcm.ts";
import { startPcmWriter } from "./pcm_writer.ts";
import { type Backend, type BackendContext, type BackendFactory, countError, newCounters, type StreamInfo } from "../backend.ts";

const SCHEME_PREFIX = "alsa:";
const OPTIONS = ["wait", "buffer", "period"] as const;
const DEFAULT_WAIT_S = 10;
const MAX_WAIT_S = 24 * 3600;
const MAX_BUFFER_MS = 10_000;
const BUSY_BACKOFF_START_US = 50 * US_PER_MS;
const BUSY_BACKOFF_MAX_US = 1 * US_PER_S;
/** Units go out this many periods ahead of real time: one being played, one queued. */
const AHEAD_PERIODS = 2;

interface AlsaTarget {
  device: string;
  waitUs: number;
  bufferUs: number;
  periodUs: number;
}

function parseAlsaTarget(target: string, defaultWaitS: number | undefined): AlsaTarget {
  const rest = target.slice(SCHEME_PREFIX.length);
  const question = rest.indexOf("?");
  const device = question < 0 ? rest : rest.slice(0, question);
  const params = new URLSearchParams(question < 0 ? "" : rest.slice(question + 1));
  if (device === "") throw new UsageError(`"${target}": alsa: needs a device, e.g. alsa:default (see "pacer devices")`);
  for (const key of params.keys()) {
    if (key === "follow") {
      throw new UsageError(`"${target}": follow=1 is for the speaker's queue (an output under [speaker] in pacer serve); here the device opens once, in the stream's format`);
    }
    if (!(OPTIONS as readonly string[]).includes(key)) {
      throw new UsageError(`"${target}": unknown option "${key}" (known: ${OPTIONS.join(", ")})`);
    }
  }
  const number = (what: string, raw: string, min: number, max: number): number => {
    const value = Number(raw);
    if (raw.trim() === "" || !(value >= min && value <= max)) {
      throw new UsageError(`${what}=${raw}: must be a number from ${min} to ${max}`);
    }
    return value;
  };
  const waitText = params.get("wait");
  const waitS =
    waitText !== null ? number(`"${target}": wait`, waitText, 0, MAX_WAIT_S) : number("--device-wait", String(defaultWaitS ?? DEFAULT_WAIT_S), 0, MAX_WAIT_S);
  const ms = (key: string, fallbackUs: number) => {
    const raw = params.get(key);
    return raw === null ? fallbackUs : Math.round(number(`"${target}": ${key}`, raw, 1, MAX_BUFFER_MS) * US_PER_MS);
  };
  // Units go AHEAD_PERIODS periods ahead, so the buffer holds at least that many. A buffer
  // shorter than two default periods halves the period instead; asked for both, a period longer
  // than that is refused. It was opened as asked where the PCM allowed it (a file or null PCM
  // took buffer=1 with a 20 ms period: 48 frames a wake-up, the stream 1.1 s behind by its end).
  const bufferUs = ms("buffer", DEFAULT_BUFFER_US);
  const periodUs = ms("period", Math.min(DEFAULT_PERIOD_US, Math.floor(bufferUs / AHEAD_PERIODS)));
  if (periodUs * AHEAD_PERIODS > bufferUs) {
    throw new UsageError(
      `"${target}": period=${periodUs / US_PER_MS} does not fit buffer=${bufferUs / US_PER_MS} twice; the buffer holds at least two periods`,
    );
  }
  return { device, waitUs: Math.round(waitS * US_PER_S), bufferUs, periodUs };
}

/** Opens the PCM, retrying while it is busy; maps AlsaPcm's errors to exit codes. */
async function openWithWait(target: AlsaTarget, label: string, stream: StreamInfo, scheduler: Scheduler): Promise<AlsaPcm> {
  const format = stream.outFormat ?? stream.format!;
  const giveUpAt = scheduler.now() + target.waitUs;
  let backoffUs = BUSY_BACKOFF_START_US;
  for (;;) {
    try {
      return AlsaPcm.open(target.device, { stream: "playback", format, nearest: true, bufferUs: target.bufferUs, periodUs: target.periodUs });
    } catch (err) {
      if (err instanceof AlsaBusyError) {
        const now = scheduler.now();
        if (now >= giveUpAt) {
          throw new TemporaryError(`${SCHEME_PREFIX}${target.device}: device busy for ${Number((target.waitUs / US_PER_S).toFixed(3))} s`);
        }
        await sleepOn(scheduler, Math.min(backoffUs, giveUpAt - now));
        backoffUs = Math.min(backoffUs * 2, BUSY_BACKOFF_MAX_US);
        continue;
      }
      // No such device, a refused format or any other libasound failure: its message says which.
      if (err instanceof AlsaError) throw new PacerError(err.message);
      throw err;
    }
  }
}

/**
 * The `alsa:` factory, with the libasound probe injectable so a test can
 * play a host without libasound.
 *
 * @example
 * ```ts
 * const noAlsa = createAlsaBackend(() => "libasound.so.2 not found: install libasound2");
 * noAlsa.unavailable?.(); // that message
 * ```
 */
export function createAlsaBackend(probe: () => string | null = libasoundUnavailable): BackendFactory {
  return {
    scheme: "alsa",
    summary: "alsa:DEVICE  playback through libasound (see pacer devices)",
    unavailable: probe,
    async create(label: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
      const why = probe();
      if (why !== null) throw new PacerError(why);
      const target = parseAlsaTarget(label, stream.deviceWaitS);
      // Process-wide: the latest output's log, without its dest (a line may be another device's).
      onAlsaLibMessage((text) => ctx.log.debug(text, { dest: undefined }));
      if (stream.kind !== "pcm" || !stream.format) {
        throw new UsageError(`${label}: ALSA plays PCM; this input is ${stream.kind}`);
      }
      const pcm = await openWithWait(target, label, stream, ctx.scheduler);
      const requested = stream.outFormat ?? stream.format;
      if (!sameFormat(pcm.format, requested)) {
        ctx.log.warn(`${label} takes ${formatToString(pcm.format)}, not ${formatToString(requested)}; the stream is converted to it`);
      }
      ctx.log.debug(`${label} opened`, {
        format: formatToString(pcm.format),
        bufferFrames: pcm.bufferFrames,
        periodFrames: pcm.periodFrames,
      });
      const counters = newCounters();
      const writer = startPcmWriter(pcm, ctx.log);
      // The device went away (unplugged, suspended for good): this destination is done.
      // Its message starts "alsa:DEVICE: ", as the job puts the label before it: dropped so it is said once.
      const devicePrefix = `${SCHEME_PREFIX}${target.device}: `;
      writer.onFailure = (error) =>
        ctx.fail(new PacerError(error.message.startsWith(devicePrefix) ? error.message.slice(devicePrefix.length) : error.message));
      let seenUnderruns = 0;
      const noteUnderruns = () => {
        const underruns = writer.underruns;
        if (underruns === seenUnderruns) return;
        seenUnderruns = underruns;
        if (countError(counters, "underrun")) ctx.log.warn(`${label}: underrun (the device ran dry); counting further ones`);
        counters.errors.underrun = underruns;
      };

      return {
        label,
        format: pcm.format,
        unitBytes: pcm.periodFrames * pcm.bytesPerFrame,
        aheadUs: Math.round((AHEAD_PERIODS * pcm.periodFrames * US_PER_S) / pcm.actualRate),
        // The device's clock paces it: it may fall behind the job's other outputs.
        pushesBack: true,
        counters,
        send(unit) {
          if (writer.failure) return unit.length;
          noteUnderruns();
          const taken = writer.write(unit);
          if (taken === 0) return 0;
          counters.units++;
          counters.bytes += taken;
          return taken;
        },
        pause(paused) {
          writer.pause(paused);
        },
        async close(deadlineUs) {
          const timeoutMs = deadlineUs === undefined ? undefined : Math.max(0, deadlineUs - ctx.scheduler.now()) / 1000;
          const ended = await writer.close({ drain: writer.failure === null, timeoutMs });
          // Those after the last unit too (the status a job leaves behind is its last word).
          noteUnderruns();
          if (ended === "left behind") {
            // Still stuck in the device at the deadline: what it was given and never took is lost.
            counters.lostBytes += writer.held;
            countError(counters, "ended");
          }
        },
      };
    },
  };
}

export const alsaBackend: BackendFactory = createAlsaBackend();
