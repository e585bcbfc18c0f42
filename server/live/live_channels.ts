/**
 * The server's live channels, by name: opened at start (before privileges are dropped, so a low
 * port can be bound), listed by `list`, closed at stop. Channels are fixed at start, like the
 * other addresses; a reload that changes `[[live]]` logs that a restart is needed.
 *
 * @example
 * ```ts
 * const live = await openLiveChannels(config.live, log);
 * live.get("cam1")?.ring.reader();
 * ```
 */
import type { Logger } from "../../foundation/log.ts";
import { keyFileExposure, type LiveInput, readKey } from "../config.ts";
import { type ChannelSummary, LiveChannel } from "./live_channel.ts";

export class LiveChannels {
  constructor(private readonly channels: ReadonlyMap<string, LiveChannel>) {}

  get(name: string): LiveChannel | undefined {
    return this.channels.get(name);
  }

  all(): LiveChannel[] {
    return [...this.channels.values()];
  }

  summaries(): ChannelSummary[] {
    return this.all().map((c) => c.summary());
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
  }
}

/** Opens every channel; on a failure closes those already open and throws. */
export async function openLiveChannels(inputs: readonly LiveInput[], log: Logger): Promise<LiveChannels> {
  const channels = new Map<string, LiveChannel>();
  try {
    for (const input of inputs) {
      const key = input.keyFile ? await readKey(input.keyFile) : undefined;
      const channelLog = log.child({ live: input.name });
      const exposed = keyFileExposure(input.keyFile);
      if (exposed) channelLog.warn(exposed);
      const channel = new LiveChannel(input, key, channelLog);
      channels.set(input.name, channel);
      await channel.open();
    }
  } catch (error) {
    for (const channel of channels.values()) channel.close();
    throw error;
  }
  return new LiveChannels(channels);
}
