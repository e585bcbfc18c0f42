/**
 * The UDP receive socket's drop count: the kernel's own, including drops that no later datagram
 * could report (a full buffer at the very end of a burst).
 */
import { expect, test } from "bun:test";
import { openUdpReceiver } from "../../foundation/net/udp_receive.ts";
import { freeUdpPort } from "../helpers/ports.ts";

test("drops at the tail of a burst, after the last datagram queued, are counted", async () => {
  const port = await freeUdpPort();
  // The smallest buffer the kernel grants: a few datagrams fit, the rest of the burst is dropped.
  const rx = openUdpReceiver({ host: "127.0.0.1", port, rcvbufBytes: 1 });
  const sender = await Bun.udpSocket({ socket: { error() {} } });
  const datagram = new Uint8Array(1316);
  let sent = 0;
  for (let k = 0; k < 200; k++) if (sender.send(datagram, port, "127.0.0.1")) sent++;
  sender.close();
  await Bun.sleep(50);
  let received = 0;
  rx.drain(() => received++);
  const drops = rx.kernelDrops;
  rx.close();
  expect(sent).toBe(200);
  expect(received).toBeGreaterThan(0);
  expect(received).toBeLessThan(sent);
  // Every datagram queued was queued before the first drop, so none of them carries a count.
  expect(drops).toBe(sent - received);
});
