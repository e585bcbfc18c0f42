/**
 * A stand-in for the wire, for the scale section: on loopback every receiver's work (delivering
 * each datagram to its socket and waking the receiver) runs in the sender's system call and is
 * charged to the sender, and 1000 receiving sockets take the second of this host's two cores.
 * A push server's receivers are on other hosts. So here the destinations that are not sampled
 * go out of a veth interface whose far end drops them on arrival (addressed to a link address
 * nobody has, so the kernel drops them as soon as they arrive), and the interface's transmit
 * counter says how many left; the three sampled destinations still go to receivers on loopback.
 *
 * It is a throwaway network namespace (root only; the bench says so and goes on without it):
 * `lo` and a veth pair, vA (10.98.0.1/24) and vB, with a permanent neighbour entry for
 * {@link WIRE_HOST} and IPv6 off, so nothing but the bench's datagrams leaves vA.
 *
 * @example
 * ```ts
 * const wire = makeWire();
 * const before = wire.sentPackets();
 * await runBounded([...wire.exec, pacer, "play", "a.ts", "--to", `udp://${WIRE_HOST}:6000`], 30);
 * wire.sentPackets() - before; // datagrams that left
 * wire.remove();
 * ```
 */
import { spawnSync } from "node:child_process";

/** Where the unsampled destinations go: a neighbour on vA that answers nothing. */
export const WIRE_HOST = "10.98.0.2";
const LOCAL_CIDR = "10.98.0.1/24";
/** A locally administered link address no interface here has. */
const NOBODY_MAC = "02:00:00:00:00:02";

export interface Wire {
  /** Prefix for a command to run inside the namespace. */
  readonly exec: string[];
  /** Datagrams that have left vA so far. */
  sentPackets(): number;
  remove(): void;
}

function ip(args: string[]): string | null {
  const run = spawnSync("ip", args, { encoding: "utf8" });
  return run.status === 0 ? null : (run.stderr ?? "").trim() || String(run.error ?? `exit ${run.status}`);
}

/** Makes the namespace, or says why it cannot (not root, no veth, no `ip`). */
export function makeWire(): Wire | string {
  const name = `pacer-bench-wire-${process.pid}`;
  const inside = (...cmd: string[]) => ["netns", "exec", name, ...cmd];
  const steps = [
    ["netns", "add", name],
    inside("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"),
    inside("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"),
    inside("ip", "link", "set", "lo", "up"),
    inside("ip", "link", "add", "vA", "type", "veth", "peer", "name", "vB"),
    inside("ip", "addr", "add", LOCAL_CIDR, "dev", "vA"),
    inside("ip", "link", "set", "vA", "up"),
    inside("ip", "link", "set", "vB", "up"),
    inside("ip", "neigh", "add", WIRE_HOST, "lladdr", NOBODY_MAC, "dev", "vA", "nud", "permanent"),
  ];
  for (const step of steps) {
    const why = ip(step);
    if (why !== null) {
      ip(["netns", "del", name]);
      return `ip ${step.join(" ")}: ${why}`;
    }
  }
  // Read through a process inside: /sys shows the namespace of whoever mounted it.
  const sentPackets = () => {
    const run = spawnSync("ip", inside("cat", "/sys/class/net/vA/statistics/tx_packets"), { encoding: "utf8" });
    const n = Number(run.stdout.trim());
    if (run.status !== 0 || !Number.isFinite(n)) throw new Error(`cannot read vA's transmit counter: ${run.stderr.trim()}`);
    return n;
  };
  return {
    exec: ["ip", ...inside()],
    sentPackets,
    remove: () => void ip(["netns", "del", name]),
  };
}

