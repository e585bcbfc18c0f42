/**
 * Which address a destination's datagrams leave from (backends/net/local_address.ts), for SAP's
 * origin and AES67's ts-refclk: `source=` and an `iface=` address are taken as given, an
 * interface named by `iface=` gives its own address, and otherwise the kernel's route decides.
 */
import { expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import { localAddressFor } from "../../backends/net/local_address.ts";

const dest4 = { address: "127.0.0.1", family: 4 as const, port: 5004 };

test("source= and an iface= address are what they say", async () => {
  expect(await localAddressFor(dest4, { source: { host: "127.0.0.2" } })).toBe("127.0.0.2");
  expect(await localAddressFor(dest4, { iface: "127.0.0.3" })).toBe("127.0.0.3");
});

test("an interface named by iface= gives its own address of the destination's family", async () => {
  expect(await localAddressFor({ address: "239.1.1.1", family: 4, port: 5004 }, { iface: "lo" })).toBe("127.0.0.1");
  const lo6 = (networkInterfaces().lo ?? []).some((e) => e.family === "IPv6");
  if (lo6) expect(await localAddressFor({ address: "ff0e::5", family: 6, port: 5004 }, { iface: "lo" })).toBe("::1");
});

test("otherwise the route decides: loopback for a loopback destination", async () => {
  expect(await localAddressFor(dest4, {})).toBe("127.0.0.1");
});
