/**
 * Throwaway network namespaces: one with only a loopback interface, multicast on and 224.0.0.0/4
 * routed to it, and one with a veth pair for IPv6 multicast. Multicast tests (SAP, groups) send
 * there and nowhere else. Needs root (or
 * CAP_SYS_ADMIN); where namespaces cannot be made the test skips with a message, except under CI,
 * which can make them.
 */
import { spawnSync } from "node:child_process";

export interface Netns {
  readonly name: string;
  /** Prefix for a command to run inside: `[...ns.exec, "ffmpeg", ...]`. */
  readonly exec: string[];
  /** Deletes the namespace (and with it its interfaces and routes). */
  remove(): void;
  /**
   * Resolves once some socket inside has joined `group` (as `ip maddr` prints it, e.g.
   * `ff0e::5`), or rejects after `timeoutMs`: a receiver is ready when the kernel says it joined,
   * not after a guessed sleep.
   */
  joined(group: string, timeoutMs?: number): Promise<void>;
}

function ip(args: string[]): { ok: boolean; stderr: string } {
  const run = spawnSync("ip", args, { encoding: "utf8" });
  return { ok: run.status === 0, stderr: (run.stderr ?? "").trim() || String(run.error ?? "") };
}

/** Makes the namespace, or returns null (with a console warning) where that is not possible. */
export function makeLoopbackNetns(prefix: string): Netns | null {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  return makeNetns(name, [
    ["netns", "add", name],
    ["netns", "exec", name, "ip", "link", "set", "lo", "up", "multicast", "on"],
    ["netns", "exec", name, "ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
  ]);
}

/**
 * IPv6 multicast is not delivered over `lo`: this namespace has a veth pair of its own (v0, v1)
 * carrying fd00::1 on v0, and every IPv6 multicast group routed to v0. Nothing leaves it.
 */
export function makeIpv6MulticastNetns(prefix: string): Netns | null {
  return makeVethNetns(prefix, [
    ["ip", "-6", "addr", "add", "fd00::1/64", "dev", "v0", "nodad"],
    ["ip", "-6", "route", "add", "ff00::/8", "dev", "v0", "table", "local"],
  ]);
}

/**
 * IPv4 multicast over a link: a veth pair (v0, v1) carrying 10.99.0.1 on v0, and 224.0.0.0/4
 * routed to v0, so what a host would put on its network shows up on v1. Nothing leaves it.
 */
export function makeIpv4VethNetns(prefix: string): Netns | null {
  return makeVethNetns(prefix, [
    ["ip", "addr", "add", "10.99.0.1/24", "dev", "v0"],
    ["ip", "route", "add", "224.0.0.0/4", "dev", "v0"],
  ]);
}

/** A namespace with lo up and a veth pair v0, v1 (multicast on), then `addressing` run inside. */
function makeVethNetns(prefix: string, addressing: string[][]): Netns | null {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const inside = (cmd: string[]) => ["netns", "exec", name, ...cmd];
  return makeNetns(name, [
    ["netns", "add", name],
    inside(["ip", "link", "set", "lo", "up"]),
    inside(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]),
    inside(["ip", "link", "set", "v0", "up", "multicast", "on"]),
    inside(["ip", "link", "set", "v1", "up", "multicast", "on"]),
    ...addressing.map(inside),
  ]);
}

function makeNetns(name: string, steps: string[][]): Netns | null {
  for (const step of steps) {
    const result = ip(step);
    if (!result.ok) {
      ip(["netns", "del", name]);
      const why = `cannot make a network namespace (ip ${step.join(" ")}: ${result.stderr})`;
      if (process.env.CI === "true") throw new Error(`${why}; CI must be able to`);
      console.warn(`skipping: ${why}`);
      return null;
    }
  }
  return {
    name,
    exec: ["ip", "netns", "exec", name],
    remove: () => void ip(["netns", "del", name]),
    joined: async (group, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      const listed = () => spawnSync("ip", ["netns", "exec", name, "ip", "maddr", "show"], { encoding: "utf8" }).stdout ?? "";
      while (!listed().split(/\s+/).includes(group)) {
        if (Date.now() > deadline) throw new Error(`nothing joined ${group} in ${name} within ${timeoutMs} ms`);
        await Bun.sleep(50);
      }
    },
  };
}
