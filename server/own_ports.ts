/**
 * The ports no stream may be sent to, as bound: the control and HTTP ports, each live channel's
 * listening port, and every port the server receives a stream on (a live channel's `input`, a
 * `[[recording]]`'s source). A stream sent to one of those would inject a client's bytes into a
 * channel or a recording, or loop a channel into itself.
 *
 * @example
 * ```ts
 * const own = ownPortsOf(config, { control: 7070, http: 9090, listening: [{ name: "studio", port: 9000 }] });
 * ```
 */
import { isMulticast } from "../foundation/net/address.ts";
import { networkInputEndpoint } from "../sources/open_input.ts";
import type { Config } from "./config.ts";
import type { OwnPort } from "./policy.ts";

export interface BoundPorts {
  readonly control: number;
  readonly http: number | null;
  /** Live channels listening for a source (`listen = "tcp://…"`), as bound. */
  readonly listening: readonly { readonly name: string; readonly port: number }[];
}

export function ownPortsOf(config: Pick<Config, "live" | "recordings">, bound: BoundPorts): OwnPort[] {
  const own: OwnPort[] = [{ port: bound.control, what: "control" }];
  if (bound.http !== null) own.push({ port: bound.http, what: "HTTP" });
  for (const c of bound.listening) own.push({ port: c.port, what: `live "${c.name}"` });
  for (const c of config.live) if (c.input) addReceivePort(own, c.input, `live "${c.name}" input`);
  for (const r of config.recordings) if (!r.source.startsWith("live:")) addReceivePort(own, r.source, `recording "${r.name}" source`);
  return own;
}

/** The port an input URL receives on, if it receives (udp://@, rtp://@, tcp://:PORT); a tcp:// that connects out has none here. */
function addReceivePort(own: OwnPort[], url: string, what: string): void {
  const endpoint = networkInputEndpoint(url); // checked when the config loaded
  if (!endpoint.listen || endpoint.port === 0) return;
  own.push({ port: endpoint.port, what, ...(isMulticast(endpoint.host) && { group: endpoint.host }) });
}
