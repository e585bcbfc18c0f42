/**
 * What a requested destination of a PCM stream costs the server's one thread, held to
 * `limits.max_bitrate` ("a client's rate is this server's CPU") before its job starts: the rate
 * it goes out at, in the format it is sent in (an rtp:// `format=` converts to that), with each
 * datagram counted as at least a full one, as a send costs about the same whatever its size.
 * Before, only the request's `bitrate` was held to it: `format=s16be:768000:64` made a 3 s WAV a
 * 786 Mbit/s stream, and `pkt=4` sent 44,100 datagrams a second; one such request (looping,
 * persistent) held the server's thread at 60–100 % and every other stream 10–40 ms late.
 *
 * MPEG and data go out at their own rate (or the request's `bitrate`, checked on its own in
 * play_op.ts), which a request cannot raise; but a `pkt=` it gives cuts that rate into more
 * datagrams, and those are held to the same bound: `bitrate` 2M with `pkt=1` asked for 250,000
 * datagrams a second, and held the thread at 100 %.
 *
 * @example
 * ```ts
 * wireRateRefusal(["rtp://10.0.0.5:5004?format=s16be:768000:64"], { kind: "pcm", format }, 100e6);
 * // 'destination "rtp://…" would send 786.4 Mbit/s (s16be:768000:64), more than …'
 * ```
 */
import { udpUnitBytes } from "../backends/udp.ts";
import type { StreamInfo } from "../backends/backend.ts";
import { planPayload } from "../backends/rtp/payload_plan.ts";
import { schemeOf } from "../backends/registry.ts";
import { intParam, parseEndpoint } from "../foundation/net/endpoint.ts";
import { bytesPerFrame, formatToString } from "../protocol/sample_format.ts";

/** A datagram smaller than this (the default L16 payload) is counted as this big. */
export const FULL_DATAGRAM_BYTES = 1400;

/**
 * Why `outputs` may not carry `stream` on this server, or null when each is within `maxBitrate`.
 * `streamBytesPerSecond` is MPEG's or data's rate where known (`bitrate`, a file's average): only a
 * `pkt=` the request gives is judged by it.
 */
export function wireRateRefusal(outputs: readonly string[], stream: StreamInfo, maxBitrate: number, streamBytesPerSecond?: number): string | null {
  const pcm = stream.kind === "pcm" && stream.format !== undefined;
  if (!pcm && streamBytesPerSecond === undefined) return null;
  for (const output of outputs) {
    let format = stream.format;
    let unitBytes: number;
    try {
      const endpoint = parseEndpoint(output);
      if (!pcm && !endpoint.params.has("pkt")) continue;
      if (schemeOf(output) === "rtp") {
        const plan = planPayload(output, endpoint, stream);
        format = plan.format ?? format;
        unitBytes = plan.unitBytes;
      } else {
        unitBytes = udpUnitBytes(output, stream, intParam(endpoint, "pkt", 1, Number.MAX_SAFE_INTEGER));
      }
    } catch {
      continue; // a bad option: opening the output says what is wrong with it
    }
    const bytesPerSecond = pcm ? format!.rate * bytesPerFrame(format!) : streamBytesPerSecond!;
    const datagrams = bytesPerSecond / unitBytes;
    const bits = datagrams * Math.max(unitBytes, FULL_DATAGRAM_BYTES) * 8;
    if (bits <= maxBitrate) continue;
    const limit = `more than this server allows (limits.max_bitrate, ${maxBitrate} bits/s)`;
    if (pcm && bytesPerSecond * 8 > maxBitrate) {
      return `destination ${JSON.stringify(output)} would send ${mbit(bytesPerSecond * 8)} (${formatToString(format!)}), ${limit}`;
    }
    return `destination ${JSON.stringify(output)} would send ${Math.round(datagrams)} datagrams a second of ${unitBytes} ${unitBytes === 1 ? "byte" : "bytes"}, ${mbit(bits)} counted as ${FULL_DATAGRAM_BYTES} bytes each (a send costs about the same whatever its size), ${limit}; give larger packets`;
  }
  return null;
}

function mbit(bits: number): string {
  return `${(bits / 1e6).toFixed(1)} Mbit/s`;
}
