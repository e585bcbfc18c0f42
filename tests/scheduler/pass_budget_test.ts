/**
 * A scheduler behind its events still reads its sockets: a pass that has fired for 5 ms gives the
 * event loop a turn, then goes on with what is still due, in deadline order. Story: 400 events,
 * all due, each busy for 100 µs (40 ms in all, a loop far behind its sends), and a datagram that
 * arrives as they start; the socket reads it after about 50 of them, not after all 400.
 */
import { afterEach, expect, test } from "bun:test";
import { Scheduler } from "../../scheduler/scheduler.ts";

const EVENTS = 400;
const BUSY_US = 100;

let sockets: { close(): void }[] = [];
afterEach(() => {
  for (const s of sockets) s.close();
  sockets = [];
});

test("a pass far behind gives the loop a turn every 5 ms: a datagram is read while its events still fire, and they all fire in order", async () => {
  const scheduler = new Scheduler();
  let fired = 0;
  let firedWhenRead = -1;
  const order: number[] = [];
  const receiver = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data() {
        firedWhenRead = fired;
      },
      error() {},
    },
  });
  const sender = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { error() {} } });
  sockets.push(receiver, sender);
  const due = scheduler.now();
  for (let i = 0; i < EVENTS; i++) {
    const timer = scheduler.timer("load", () => {
      // The first event sends the datagram: it is in the receiver's buffer from then on.
      if (i === 0) sender.send(Buffer.from("x"), receiver.port, "127.0.0.1");
      const until = scheduler.now() + BUSY_US;
      while (scheduler.now() < until);
      order.push(i);
      fired++;
    });
    scheduler.schedule(timer, due + i);
  }
  const deadline = Date.now() + 10_000;
  while ((fired < EVENTS || firedWhenRead < 0) && Date.now() < deadline) await Bun.sleep(5);
  expect(fired).toBe(EVENTS);
  expect(order).toEqual(Array.from({ length: EVENTS }, (_, i) => i));
  // Read after the first 5 ms of events (about 50, fewer on a slow host), long before the last.
  // Without the budget the pass fired all 400 first (measured: 400).
  expect(firedWhenRead).toBeGreaterThan(0);
  expect(firedWhenRead).toBeLessThan(EVENTS / 2);
});
