/**
 * systemd's service notification protocol (sd_notify(3)): state lines such as `READY=1` sent as
 * one datagram to the unix socket NOTIFY_SOCKET names, a path or, with a leading `@`, an
 * abstract name. `Type=notify` units wait for READY=1 before counting the service as started;
 * `WatchdogSec=` restarts it when WATCHDOG=1 stops arriving, which is what a stuck event loop
 * looks like from outside.
 *
 * Bun's own sockets cannot send unix datagrams, so this goes through libc (socket + sendto).
 * Without NOTIFY_SOCKET (not under systemd) or without libc, every call does nothing.
 *
 * @example
 * ```ts
 * const systemd = systemdNotifier();   // starts the watchdog ping if WATCHDOG_USEC asks for it
 * systemd.ready();                     // once the control socket is open
 * systemd.reloading(); await reload(); systemd.ready();
 * systemd.stopping(); systemd.close();
 * ```
 */
import { libc } from "./libc.ts";

type Env = Record<string, string | undefined>;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** Never wait on a full receive queue, and never die of SIGPIPE: a notification is best-effort. */
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_BYTES = 108;
const SA_FAMILY_BYTES = 2;
const CLOCK_MONOTONIC = 1;

/**
 * The sockaddr_un for a NOTIFY_SOCKET value, or null for one this cannot reach (empty, too long,
 * or another family such as systemd's `vsock:`). Abstract names keep their exact length: the
 * kernel counts every byte of the address, with no terminating NUL.
 */
export function notifySocketAddress(value: string): Uint8Array | null {
  const abstract = value.startsWith("@");
  if (!abstract && !value.startsWith("/")) return null;
  const name = new TextEncoder().encode(abstract ? value.slice(1) : value);
  if (name.length === 0 || name.length + 1 > SUN_PATH_BYTES) return null;
  // family, then the path with its NUL, or a NUL and the abstract name.
  const address = new Uint8Array(SA_FAMILY_BYTES + 1 + name.length);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(name, abstract ? SA_FAMILY_BYTES + 1 : SA_FAMILY_BYTES);
  return address;
}

/**
 * Sends `state` (newline-separated `KEY=VALUE` lines) to NOTIFY_SOCKET. Returns whether it was
 * sent; false when there is no socket to send to or the send failed.
 */
export function sdNotify(state: string, env: Env = process.env): boolean {
  const address = env.NOTIFY_SOCKET ? notifySocketAddress(env.NOTIFY_SOCKET) : null;
  const c = address && libc();
  if (!address || !c) return false;
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const message = new TextEncoder().encode(state);
    const sent = c.sendto(fd, message, message.length, MSG_DONTWAIT | MSG_NOSIGNAL, address, address.length);
    return Number(sent) === message.length;
  } finally {
    c.close(fd);
  }
}

/**
 * How often to send WATCHDOG=1, in ms: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises,
 * or null when no watchdog is asked for, or it is meant for another process (WATCHDOG_PID).
 */
export function watchdogIntervalMs(env: Env = process.env, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** CLOCK_MONOTONIC in µs, the clock systemd compares a reload's MONOTONIC_USEC against. */
function monotonicUs(): bigint {
  const c = libc();
  const timespec = new BigInt64Array(2);
  if (!c || c.clock_gettime(CLOCK_MONOTONIC, timespec) !== 0) return process.hrtime.bigint() / 1000n;
  return timespec[0]! * 1_000_000n + timespec[1]! / 1000n;
}

/** What `pacer serve` tells systemd over its life. */
export interface SystemdNotifier {
  /** The service is up (sockets open, config loaded), or back up after a reload. */
  ready(status?: string): void;
  /** A reload (SIGHUP) has begun; call ready() when it is done, whatever its outcome. */
  reloading(): void;
  /** Shutdown has begun. */
  stopping(): void;
  /** A one-line status for `systemctl status`. */
  status(text: string): void;
  /** Ends the watchdog ping. */
  close(): void;
  /** The watchdog ping interval, or null when none runs. */
  readonly watchdogMs: number | null;
}

/**
 * A notifier reading NOTIFY_SOCKET and WATCHDOG_USEC from `env` once. It starts the watchdog ping
 * at once (systemd arms the watchdog when start-up completes, and an early ping is harmless);
 * the timer is unref'd, so it never keeps the process alive on its own.
 */
export function systemdNotifier(env: Env = process.env): SystemdNotifier {
  const send = (state: string) => void sdNotify(state, env);
  const watchdogMs = env.NOTIFY_SOCKET ? watchdogIntervalMs(env) : null;
  const ping = watchdogMs === null ? null : setInterval(() => send("WATCHDOG=1"), watchdogMs);
  ping?.unref();
  return {
    ready: (status) => send(status ? `READY=1\nSTATUS=${status}` : "READY=1"),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUs()}`),
    stopping: () => send("STOPPING=1"),
    status: (text) => send(`STATUS=${text.replace(/\n/g, " ")}`),
    close: () => {
      if (ping) clearInterval(ping);
    },
    watchdogMs,
  };
}
