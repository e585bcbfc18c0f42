/**
 * The thread of a line writer (a Worker; line_writer.ts starts it): waits for lines in the shared
 * ring and writes them to its file descriptor with blocking writes, which hold up this thread
 * only. A write that fails (the reader gone: EPIPE) drops what it had; later lines are tried again.
 */
import { writeSync } from "node:fs";
import { CONTROL_BYTES, type LineWriterStart, WRITTEN_IN, WRITTEN_OUT } from "./line_writer.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<LineWriterStart>) => {
  const { shared, fd } = event.data;
  const control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
  const ring = new Uint8Array(shared, CONTROL_BYTES);
  const capacity = ring.length;
  let writtenOut = Atomics.load(control, WRITTEN_OUT);
  for (;;) {
    const writtenIn = Atomics.load(control, WRITTEN_IN);
    if (writtenIn === writtenOut) {
      Atomics.wait(control, WRITTEN_IN, writtenIn);
      continue;
    }
    const at = (writtenOut >>> 0) % capacity;
    const length = Math.min((writtenIn - writtenOut) | 0, capacity - at);
    let done = 0;
    try {
      while (done < length) done += writeSync(fd, ring, at + done, length - done);
    } catch {
      // Nobody to read it: these bytes are lost, as they would be to a direct write.
    }
    writtenOut = (writtenOut + length) | 0;
    Atomics.store(control, WRITTEN_OUT, writtenOut);
  }
};
