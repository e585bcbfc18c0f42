/**
 * What the ops of `pacer serve` see of the running server: one context for every op (ops.ts,
 * play_op.ts) and for the HTTP status (metrics_http.ts). serve.ts builds it once.
 *
 * @example
 * ```ts
 * const media = await server.catalogue.entries(server.config().mediaRoot);
 * if (server.keyed() && !from.authenticated) throw new OpError("forbidden", "…");
 * ```
 */

import type { Logger } from "../foundation/log.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Speaker } from "../speaker/speaker.ts";
import type { Catalogue } from "./catalogue.ts";
import type { Config } from "./config.ts";
import type { ControlCounters } from "./control_server.ts";
import type { JobTable } from "./jobs.ts";
import type { OwnPort } from "./policy.ts";
import type { LiveChannels } from "./live/live_channels.ts";
import type { Recordings } from "./recording/recordings.ts";

export interface ServerContext {
  /** The current config (a reload replaces it). */
  config(): Config;
  /** Whether a key is configured now. */
  keyed(): boolean;
  readonly jobs: JobTable;
  /** The speaker, when the config has a [speaker] table. */
  readonly speaker: Speaker | null;
  /** The `[[live]]` channels (null only while the server starts). */
  readonly live: LiveChannels | null;
  /** Server recordings: `[[recording]]` schedules and `record start/stop` runs. */
  readonly recordings: Recordings;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly catalogue: Catalogue;
  readonly counters: ControlCounters;
  readonly startedAtMs: number;
  /** Times the whole server was held up (stall_watch.ts), and for how long in all. */
  readonly stalls: { readonly count: number; readonly stalledMs: number };
  /** The ports this server listens on (control, HTTP, live), as bound: no stream may go to them. */
  ownPorts(): readonly OwnPort[];
  /** Re-reads the config as SIGHUP does; throws with a message when the new one is invalid. */
  reload(by: string): Promise<Config>;
}
