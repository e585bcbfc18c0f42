/**
 * Story: a user sends a stream to another host (here 10.99.0.2, across a veth pair in a
 * throwaway namespace) and hands the `--sdp` file to that host's receiver. The file's o= line
 * names this host by the address the stream leaves from (10.99.0.1). Before, it always said
 * 127.0.0.1, a loopback address, which RFC 8866 section 5.2 says must not be named where the
 * description leaves the host. A stream to 127.0.0.1 keeps 127.0.0.1.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeIpv4VethNetns, type Netns } from "../helpers/netns.ts";
import { MAIN } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sdp-origin-"));
const ns: Netns | null = makeIpv4VethNetns("pacer-sdp-origin");
afterAll(() => {
  ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test("--sdp's o= names the address the first stream leaves from, not 127.0.0.1", async () => {
  if (!ns) return;
  const sdpOf = async (to: string, name: string) => {
    const sdp = join(dir, name);
    const play = Bun.spawn([...ns.exec, process.execPath, MAIN, "play", "-", "--format", "s16le:8000:1", "--to", to, "--sdp", sdp], {
      stdin: new Uint8Array(8000 * 2 * 0.05),
      stderr: "pipe",
    });
    expect(await play.exited).toBe(0);
    return readFileSync(sdp, "utf8");
  };
  const [remote, local] = await Promise.all([sdpOf("rtp://10.99.0.2:5004?rtcp=off", "remote.sdp"), sdpOf("rtp://127.0.0.1:5004?rtcp=off", "local.sdp")]);
  expect(remote).toMatch(/^o=- \d+ \d+ IN IP4 10\.99\.0\.1\r$/m);
  expect(remote).toContain("c=IN IP4 10.99.0.2\r\n");
  expect(local).toMatch(/^o=- \d+ \d+ IN IP4 127\.0\.0\.1\r$/m);
});
