/**
 * Which of this host's addresses a destination's datagrams leave from, and that interface's MAC:
 * the SAP originating source and SDP origin (RFC 2974, RFC 8866 `o=`), and AES67's
 * `a=ts-refclk:localmac=` (SMPTE ST 2110-10 section 8.2). The kernel picks the source address
 * by route; a connected UDP socket reads the choice without sending anything.
 *
 * @example
 * ```ts
 * const local = await localAddressFor({ address: "192.0.2.9", family: 4, port: 5004 }, {});
 * macOf(local); // "02-FC-00-00-00-01", or null on loopback
 * ```
 */
import { networkInterfaces } from "node:os";
import { parseIp, sameIp } from "../../foundation/net/address.ts";
import { openUdpSocket } from "../../foundation/net/udp_socket.ts";

/**
 * The local address datagrams to `dest` leave from: `source=`'s host or `iface=` when given (an
 * interface named `iface=` gives its own address of the family, a global one before a
 * link-local one), else the route's choice (the wildcard address if the kernel cannot tell).
 */
export async function localAddressFor(
  dest: { address: string; family: 4 | 6; port: number },
  options: { iface?: string; source?: { host: string } },
): Promise<string> {
  const wildcard = dest.family === 6 ? "::" : "0.0.0.0";
  if (options.source?.host && options.source.host !== wildcard) return options.source.host;
  if (options.iface && parseIp(options.iface)) return options.iface;
  // A multicast route lookup without the interface may not find it (a veth just up: measured).
  const named = options.iface ? addressOfInterface(options.iface, dest.family) : null;
  if (named) return named;
  try {
    const probe = await openUdpSocket({ hostname: wildcard, connect: { hostname: dest.address, port: dest.port }, onError() {} });
    const address = probe.address.address;
    probe.close();
    return address;
  } catch {
    return wildcard;
  }
}

/** Interface `name`'s address of `family`, a global one before a link-local one; null if it has none. */
function addressOfInterface(name: string, family: 4 | 6): string | null {
  const entries = (networkInterfaces()[name] ?? []).filter((e) => (family === 6 ? e.family === "IPv6" : e.family === "IPv4"));
  const global = entries.find((e) => !e.address.toLowerCase().startsWith("fe80:"));
  return (global ?? entries[0])?.address ?? null;
}

/** The MAC of the interface holding `address`, as `XX-XX-XX-XX-XX-XX`; null for loopback or none. */
export function macOf(address: string): string | null {
  const ip = parseIp(address);
  if (!ip) return null;
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      const other = parseIp(entry.address);
      if (!other || !sameIp(ip, other)) continue;
      if (/^(00:){5}00$/.test(entry.mac)) return null;
      return entry.mac.toUpperCase().replaceAll(":", "-");
    }
  }
  return null;
}
