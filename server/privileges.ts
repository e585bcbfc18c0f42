/**
 * Dropping root (DESIGN.md, "serve: defaults and privileges"): started as root, `pacer serve`
 * opens its sockets first, then switches to the config's `user` and `group` for good, and refuses
 * to start if it cannot. It never streams as root.
 *
 * Mechanism: Bun implements Node's process.initgroups/setgid/setuid (libc underneath, which
 * switches every thread). Order matters: supplementary groups and the group while still root, the
 * user last. initgroups rather than setgroups([]) keeps the user's own groups from /etc/group, so
 * a `user` in the "audio" group can still open ALSA devices. Afterwards, the switch is verified,
 * including that root cannot be regained.
 *
 * @example
 * ```ts
 * const dropped = dropPrivileges(config.user, config.group); // null when not root
 * if (dropped) log.info("running as", dropped);
 * ```
 */

import { PacerError } from "../foundation/errors.ts";
import { DEFAULT_GROUPS } from "./config.ts";

export interface DroppedTo {
  readonly user: string;
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
}

/** The process calls this; tests may pass a fake. */
export interface ProcessIds {
  getuid?: () => number;
  geteuid?: () => number;
  getgid?: () => number;
  getegid?: () => number;
  getgroups?: () => number[];
  initgroups?: (user: string | number, extraGroup: string | number) => void;
  setgid?: (id: string | number) => void;
  setuid?: (id: string | number) => void;
}

/** A name, or a number as chown takes one ("65534"): Node reads any string as a name ("User identifier does not exist: 65534"). */
const idOf = (name: string): string | number => (/^\d+$/.test(name) ? Number(name) : name);

/**
 * Switches to `user` and `group` (default: "nobody", or "nogroup" where no "nobody" group exists)
 * when running as root; returns null when not root (nothing to drop). Throws PacerError when the
 * switch fails or does not hold: the caller must not start.
 */
export function dropPrivileges(user: string, group: string | undefined, proc: ProcessIds = process): DroppedTo | null {
  if (proc.geteuid?.() !== 0 && proc.getuid?.() !== 0) return null;
  if (!proc.initgroups || !proc.setgid || !proc.setuid) {
    throw new PacerError("running as root, but this runtime cannot switch users; start pacer serve as an unprivileged user");
  }
  if (user === "root" || user === "0") {
    throw new PacerError(`config user "${user}": pacer serve never streams as root; set user to an unprivileged account`);
  }
  // Checked by name, before any switch: group 0 left root's group in place, said only as "left root privileges".
  if (group === "root" || group === "0") {
    throw new PacerError(`config group "${group}": pacer serve never streams in root's group; set group to an unprivileged one`);
  }
  const candidates = group !== undefined ? [group] : [...DEFAULT_GROUPS];
  let chosen: string | undefined;
  let lastError = "";
  for (const candidate of candidates) {
    try {
      proc.setgid(idOf(candidate));
      chosen = candidate;
      break;
    } catch (error) {
      lastError = (error as Error).message;
    }
  }
  if (chosen === undefined) {
    throw new PacerError(`cannot switch to group ${candidates.join(" or ")} (${lastError}); set group in the config to an existing group`);
  }
  try {
    proc.initgroups(idOf(user), idOf(chosen));
    proc.setuid(idOf(user));
  } catch (error) {
    throw new PacerError(`cannot switch to user "${user}" (${(error as Error).message}); set user in the config to an existing account`);
  }
  const uid = proc.getuid?.() ?? -1;
  const gid = proc.getgid?.() ?? -1;
  if (uid === 0 || proc.geteuid?.() === 0) {
    throw new PacerError(`switching to user "${user}" left root privileges in place; refusing to start`);
  }
  if (gid === 0 || proc.getegid?.() === 0) {
    throw new PacerError(`switching to group "${chosen}" left root's group (gid 0) in place; set group to an unprivileged one`);
  }
  // initgroups takes the user's groups from /etc/group: a user listed in root's kept gid 0, silently.
  if (proc.getgroups?.().includes(0)) {
    throw new PacerError(
      `user "${user}" is a member of root's group (gid 0) in the group database (/etc/group, or what NSS reads); pacer serve never streams in root's group: take it out of that group, or set user to another account`,
    );
  }
  try {
    proc.setuid(0);
  } catch {
    return { user, group: chosen, uid, gid };
  }
  throw new PacerError(`after switching to user "${user}" root could be regained; refusing to start`);
}
