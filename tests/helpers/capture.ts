/**
 * Packet capture on the loopback interface with tshark, for tests that check what went on the
 * wire with kernel timestamps and an independent dissector: start before the sender, stop after,
 * then read fields with `decodeCapture`.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { havePeer } from "./pacer.ts";

export interface Capture {
  readonly path: string;
  /** Stops capturing (SIGINT, so the file is complete) and waits for tshark to exit. */
  stop(): Promise<void>;
}

/** Starts `tshark -i IFACE -f FILTER -w PATH`; resolves once it is capturing. `wrap` runs it inside a netns. */
export async function startCapture(filter: string, path: string, options: { iface?: string; wrap?: string[] } = {}): Promise<Capture> {
  const args = ["-i", options.iface ?? "lo", "-f", filter, "-w", path, "-q"];
  const command = options.wrap ? [...options.wrap, "tshark", ...args] : ["tshark", ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  // tshark loads every dissector first: seconds on a loaded 2-core host.
  for (let i = 0; i < 600 && !stderr.includes("Capturing on"); i++) await Bun.sleep(25);
  if (!stderr.includes("Capturing on")) throw new Error(`tshark did not start: ${stderr}`);
  await Bun.sleep(200); // the capture filter is attached
  return {
    path,
    async stop() {
      // libpcap hands packets over in blocks, on a timeout when traffic is light; a block still
      // open at SIGINT can be lost, so wait past that timeout (1 s in dumpcap).
      await Bun.sleep(1200);
      child.kill("SIGINT");
      await closed;
      if (!existsSync(path)) throw new Error(`tshark wrote no capture: ${stderr}`);
    },
  };
}

/**
 * Reads `fields` of every packet of a capture, with `decodeAs` rules such as
 * `udp.port==5005,rtcp`; returns one row per packet, one string per field (several values of
 * one field, as in a compound RTCP packet, are joined with "|").
 */
/** tshark's colon-separated hex (`udp.payload`) as bytes. */
export function hexBytes(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replaceAll(":", ""), "hex"));
}

export function decodeCapture(path: string, fields: string[], decodeAs: string[] = [], filter?: string): string[][] {
  const args = ["-r", path, "-T", "fields", "-E", "separator=\t", "-E", "aggregator=|", "-E", "occurrence=a"];
  for (const rule of decodeAs) args.push("-d", rule);
  if (filter) args.push("-Y", filter);
  for (const f of fields) args.push("-e", f);
  const run = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`tshark -r failed: ${run.stderr}`);
  return run.stdout.split("\n").filter((l) => l.length > 0).map((l) => l.split("\t"));
}

/** Retimes what a receiver got with the kernel's times; see `wireArrivals`. */
export interface WireArrivals {
  retime<T extends { data: Buffer; atUs: number }>(packets: T[]): Promise<T[]>;
  /** Stops the capture if `retime` did not (a test that never got that far); cleanup, so it never throws. */
  close(): Promise<void>;
}

/**
 * Captures what arrives at UDP `port` (start it before the sender), so that `retime` gives the
 * receiver's datagrams (those it got by then) the kernel's arrival times: a stall of the test's
 * own event loop would stamp datagrams that arrived evenly in a clump. Times are on the wall
 * clock (µs since 1970), as the kernel stamps them; without tshark the receiver's stand, moved
 * onto it.
 */
export async function wireArrivals(port: number): Promise<WireArrivals> {
  if (!havePeer("tshark")) {
    // The receiver's own times, moved onto the wall clock as the kernel's are.
    const toWallUs = Date.now() * 1000 - Bun.nanoseconds() / 1000;
    return { retime: async (packets) => packets.map((p) => ({ ...p, atUs: p.atUs + toWallUs })), close: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), "pacer-wire-"));
  const pcap = join(dir, "arrivals.pcap");
  const capture = await startCapture(`udp and dst port ${port}`, pcap);
  let stopped: Promise<void> | null = null;
  const stop = () => (stopped ??= capture.stop());
  return {
    close: async () => {
      await stop().catch(() => {}); // a capture that failed is retime's to report, not the cleanup's
      rmSync(dir, { recursive: true, force: true });
    },
    async retime(received) {
      const packets = received.slice(); // what arrived so far; a sender still running may add more
      await stop();
      const captured = decodeCapture(pcap, ["frame.time_epoch", "udp.length"]);
      rmSync(dir, { recursive: true, force: true });
      const wire = captured.slice(0, packets.length);
      const lengths = (rows: number[]) => rows.join(",");
      if (lengths(wire.map(([, length]) => Number(length) - 8)) !== lengths(packets.map((p) => p.data.length))) {
        throw new Error(`the receiver's ${packets.length} datagrams are not the first of the ${captured.length} captured: it lost some`);
      }
      return packets.map((p, i) => ({ ...p, atUs: Number(wire[i]![0]) * 1e6 }));
    },
  };
}
