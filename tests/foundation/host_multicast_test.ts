/**
 * The kernel's tables as Linux prints them (copied from a namespace of this host): which devices
 * have joined a group, and which device a datagram to an address leaves by.
 */
import { expect, test } from "bun:test";
import { joinedDevicesIn, routeDeviceIn } from "../../foundation/net/host_multicast.ts";

const IGMP = [
  "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter",
  "1\tlo        :     1      V3",
  "\t\t\t\t010000E0     1 0:00000000\t\t0",
  "10\tvA        :     2      V3",
  "\t\t\t\t050101EF     1 0:00000000\t\t0",
  "\t\t\t\t010000E0     1 0:00000000\t\t0",
  "",
].join("\n");

test("joined devices: a group is found under each device that lists it, in the kernel's byte order", () => {
  expect([...joinedDevicesIn(IGMP, "239.1.1.5")]).toEqual(["vA"]);
  expect([...joinedDevicesIn(IGMP, "224.0.0.1")].sort()).toEqual(["lo", "vA"]);
  expect([...joinedDevicesIn(IGMP, "224.2.127.254")]).toEqual([]);
  expect([...joinedDevicesIn("", "224.2.127.254")]).toEqual([]); // no /proc: nobody listens
});

const ROUTES = [
  "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
  "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
  "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
  "eth1\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0",
  "eth2\t000000E0\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0",
  "eth3\t000000EF\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0",
  "",
].join("\n");

test("route device: the longest matching route that is up, else the default", () => {
  expect(routeDeviceIn(ROUTES, "224.2.127.254")).toBe("eth2"); // 224.0.0.0/8 before 224.0.0.0/4
  expect(routeDeviceIn(ROUTES, "239.1.1.5")).toBe("eth1"); // eth3's 239.0.0.0/8 is down
  expect(routeDeviceIn(ROUTES, "192.0.2.7")).toBe("eth0");
  expect(routeDeviceIn(ROUTES, "10.0.0.1")).toBe("eth0"); // the default route
  expect(routeDeviceIn("", "10.0.0.1")).toBeNull();
});
