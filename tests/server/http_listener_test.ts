/**
 * Story: readers that ask for a large answer (a /status of many jobs) and then read nothing must
 * not make the server hold a copy of it each. Every answer was copied beside its head, and the
 * unread rest kept until the idle timeout: 40 such connections for an 8 MiB body held 336 MB.
 * Now the body's bytes are shared; a reader that does read gets every byte, in order.
 */
import { expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { listenHttp } from "../../server/http_listener.ts";

const BODY = new Uint8Array(8 << 20).map((_, i) => (i * 7) & 0xff);

test("24 readers that never read an 8 MiB answer hold about one body in the server, not 24; one that reads gets it whole", async () => {
  const http = listenHttp({ host: "127.0.0.1", port: 0, maxConnections: 64, maxPerSource: 64, idleTimeoutS: 5 }, () => ({ status: 200, body: BODY }));
  const stalled: Socket[] = [];
  try {
    Bun.gc(true);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 24; i++) {
      const socket = connect({ host: "127.0.0.1", port: http.port });
      socket.pause();
      socket.on("error", () => {});
      socket.write("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
      stalled.push(socket);
    }
    await Bun.sleep(300);
    Bun.gc(true);
    // Copies were 24 × 8 MiB (200 MB); the kernel's socket buffers are not counted here.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20);

    const answer = await fetch(`http://127.0.0.1:${http.port}/status`);
    expect(Buffer.from(await answer.arrayBuffer()).equals(Buffer.from(BODY))).toBe(true);
  } finally {
    for (const socket of stalled) socket.destroy();
    http.stop();
  }
});
