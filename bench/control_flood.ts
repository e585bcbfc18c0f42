/**
 * The control-load generator for the control bench, a process of its own:
 * `clients` UDP sockets, each on its own loopback address (127.0.0.2, .3,
 * …), send keyed control requests to a `pacer serve`,
 * each keeping `window` requests outstanding (closed loop, as fast as the
 * server answers) or, with `ratePerSecond`, sending at that rate in all
 * (open loop). Requests cycle through `mix`; an unanswered request is
 * given up after {@link GIVE_UP_MS} and counted as lost.
 *
 * Protocol with the bench: argv[2] is a JSON {@link FloodConfig}. It prints
 * `{"started":true}` when the first requests go out, and one JSON
 * {@link FloodReport} line when `seconds` have passed.
 *
 * @example
 * ```sh
 * bun bench/control_flood.ts '{"server":"127.0.0.1:7070","keyHex":"00…","seconds":5,"clients":4,"window":8,"mix":[{"op":"ping","args":{}}]}'
 * ```
 */
import { writeSync } from "node:fs";
import type { Op } from "../protocol/control.ts";
import { ControlClient } from "../client/control_client.ts";
import { spread, type Spread } from "./stats.ts";

export interface FloodConfig {
  server: string;
  keyHex: string;
  seconds: number;
  clients: number;
  /** Requests outstanding per client (closed loop); ignored with ratePerSecond. */
  window: number;
  /** Open loop: this many requests per second over all clients. */
  ratePerSecond?: number;
  mix: { op: Op; args: Record<string, unknown> }[];
}

export interface FloodReport {
  seconds: number;
  sent: number;
  answered: number;
  /** Replies that were errors, by code (a bench mix should have none). */
  errorReplies: Record<string, number>;
  lost: number;
  answeredByOp: Record<string, number>;
  /** Request → reply, µs. */
  replyUs: Spread;
}

const GIVE_UP_MS = 1_000;

const OPEN_LOOP_TICK_MS = 5;

if (import.meta.main) await main();

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as FloodConfig;
  const key = new Uint8Array(Buffer.from(config.keyHex, "hex"));
  // Each client from its own loopback address, as separate hosts would be (the server shares its queue per address).
  const clients = await Promise.all(Array.from({ length: config.clients }, (_, i) => ControlClient.open(config.server, key, `127.0.0.${2 + i}`)));
  const pending = new Map<string, { op: Op; sentNs: number; client: number }>();
  const replyUs: number[] = [];
  const answeredByOp: Record<string, number> = {};
  const errorReplies: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let next = 0;
  let serial = 0;
  let running = true;
  const closedLoop = !config.ratePerSecond;

  const sendOne = (client: number) => {
    const { op, args } = config.mix[next++ % config.mix.length]!;
    const id = `f${client}-${serial++}`;
    pending.set(id, { op, sentNs: Bun.nanoseconds(), client });
    clients[client]!.send(id, op, args);
    sent++;
  };
  clients.forEach((c, i) => {
    c.onReply = (reply) => {
      const p = reply.id === null ? undefined : pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id!);
      answered++;
      replyUs.push((Bun.nanoseconds() - p.sentNs) / 1e3);
      answeredByOp[p.op] = (answeredByOp[p.op] ?? 0) + 1;
      if (!reply.ok) errorReplies[reply.error.code] = (errorReplies[reply.error.code] ?? 0) + 1;
      if (running && closedLoop) sendOne(i);
    };
  });

  // Requests lost on the way (or dropped by the server) are replaced, so the window stays full.
  const reaper = setInterval(() => {
    const cutoff = Bun.nanoseconds() - GIVE_UP_MS * 1e6;
    for (const [id, p] of pending) {
      if (p.sentNs > cutoff) continue;
      pending.delete(id);
      lost++;
      if (running && closedLoop) sendOne(p.client);
    }
  }, GIVE_UP_MS / 4);

  const started = Bun.nanoseconds();
  writeSync(1, JSON.stringify({ started: true }) + "\n");
  let pacer: ReturnType<typeof setInterval> | null = null;
  if (closedLoop) {
    for (let c = 0; c < clients.length; c++) for (let w = 0; w < config.window; w++) sendOne(c);
  } else {
    // Open loop: catch up to rate × elapsed on every tick, round-robin over the clients.
    pacer = setInterval(() => {
      const due = Math.floor(((Bun.nanoseconds() - started) / 1e9) * config.ratePerSecond!);
      while (sent < due) sendOne(sent % clients.length);
    }, OPEN_LOOP_TICK_MS);
  }
  await Bun.sleep(config.seconds * 1000);
  running = false;
  if (pacer) clearInterval(pacer);
  const seconds = (Bun.nanoseconds() - started) / 1e9;
  // Replies still in flight get a moment; what is left is lost.
  await Bun.sleep(200);
  clearInterval(reaper);
  lost += pending.size;
  for (const c of clients) c.close();
  const report: FloodReport = { seconds, sent, answered, errorReplies, lost, answeredByOp, replyUs: spread(replyUs) };
  writeSync(1, JSON.stringify(report) + "\n");
  process.exit(0);
}
