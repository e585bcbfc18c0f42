/**
 * Where this host listens to an IPv4 multicast group, and which interface a datagram to it leaves
 * by, from the kernel's own tables (/proc/net/igmp, /proc/net/route).
 *
 * Why: Linux keeps a TTL-0 multicast datagram on the host only when the interface it leaves by has
 * a member of the group on this host (it loops the datagram back to it and drops the original);
 * with none, the datagram goes out on that interface's link with TTL 0, where other hosts may take
 * it (measured in a namespace with a veth pair). A sender that must not leave the host asks first.
 *
 * @example
 * ```ts
 * joinedDevices("224.2.127.254");   // Set { "eth0" } while a SAP listener on this host runs
 * routeDevice("224.2.127.254");     // "eth0": the device of the longest matching route
 * ```
 */
import { readFileSync } from "node:fs";
import { parseIp } from "./address.ts";

/** The kernel prints an IPv4 address as the 32-bit word it holds, in hex, in the host's byte order. */
function procHex(address: string): number {
  const bytes = parseIp(address)!.bytes.subarray(12);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

function readProc(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Devices on which some socket of this host (of this network namespace) has joined `group`, per /proc/net/igmp's text. */
export function joinedDevicesIn(igmp: string, group: string): Set<string> {
  const wanted = procHex(group);
  const devices = new Set<string>();
  let device = "";
  for (const line of igmp.split("\n")) {
    // "2\teth0      :     1      V3" opens a device; "\t\t\t010000E0     1 0:00000000\t\t0" is one of its groups.
    const opens = /^\d+\s+(\S+)\s*:/.exec(line);
    if (opens) device = opens[1]!;
    else if (device && /^\s+[0-9A-Fa-f]{8}\s/.test(line) && parseInt(line.trim().slice(0, 8), 16) === wanted) devices.add(device);
  }
  return devices;
}

/** The device of the longest up route of /proc/net/route's text that holds `address` (lowest metric first among equals), or null. */
export function routeDeviceIn(routes: string, address: string): string | null {
  const target = procHex(address);
  let best: { device: string; prefix: number; metric: number } | null = null;
  for (const line of routes.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const [device, destination, , flags, , , metric, mask] = fields;
    if ((parseInt(flags!, 16) & 1) === 0) continue; // RTF_UP
    const maskWord = parseInt(mask!, 16) >>> 0;
    if (((target & maskWord) >>> 0) !== (parseInt(destination!, 16) >>> 0)) continue;
    const prefix = popCount(maskWord);
    const m = Number(metric);
    if (!best || prefix > best.prefix || (prefix === best.prefix && m < best.metric)) best = { device: device!, prefix, metric: m };
  }
  return best?.device ?? null;
}

function popCount(word: number): number {
  let n = 0;
  for (let w = word >>> 0; w !== 0; w >>>= 1) n += w & 1;
  return n;
}

export function joinedDevices(group: string): Set<string> {
  return joinedDevicesIn(readProc("/proc/net/igmp"), group);
}

export function routeDevice(address: string): string | null {
  return routeDeviceIn(readProc("/proc/net/route"), address);
}
