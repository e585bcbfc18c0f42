/**
 * Where the system keeps a shared library: the absolute path dlopen is given, found in
 * LD_LIBRARY_PATH, the folders /etc/ld.so.conf names (one level of its include), and the default
 * ones. Bun's dlopen, given a bare name the system search does not find, tries it again as a path
 * from the current directory: on a host without libasound2, `pacer devices` run in a folder
 * others can write loaded their libasound.so.2, code and all. Not found in those folders, the
 * bare name is still given (the linker's cache may know it: NixOS), unless the current directory
 * holds a file of that name.
 *
 * @example
 * ```ts
 * systemLibrary("libasound.so.2"); // "/usr/lib/x86_64-linux-gnu/libasound.so.2"; null when only ./libasound.so.2 would be
 * ```
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { isAbsolute, join } from "node:path";

const DEFAULT_FOLDERS = ["/lib64", "/usr/lib64", "/lib", "/usr/lib"];

/** The folders ld.so.conf names, in order: absolute lines, and those of the files an `include` globs (`DIR/*.conf`). */
function configuredFolders(path = "/etc/ld.so.conf"): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const folders: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const include = /^include\s+(\S+)$/.exec(line);
    if (include) {
      // Only the usual form, DIR/*.conf: enough for the distributions' own layout.
      const glob = /^(\/.+)\/\*\.conf$/.exec(include[1]!);
      if (!glob) continue;
      let names: string[] = [];
      try {
        names = readdirSync(glob[1]!).filter((n) => n.endsWith(".conf")).sort();
      } catch {}
      for (const name of names) folders.push(...configuredFolders(join(glob[1]!, name)));
    } else if (isAbsolute(line)) {
      folders.push(line);
    }
  }
  return folders;
}

export function systemLibrary(name: string): string | null {
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(isAbsolute);
  // This machine's multiarch folders before ld.so.conf's: with i386 multiarch installed, its
  // conf file sorts first, and its libc.so.6 is the wrong class (dlopen fails, libc() was null).
  for (const folder of [...fromEnv, ...multiarchFolders(), ...configuredFolders(), ...DEFAULT_FOLDERS]) {
    const path = join(folder, name);
    if (existsSync(path) && forThisMachine(path)) return path;
  }
  return existsSync(name) ? null : name;
}

/** ELF e_machine of this process's architecture: what the linker, too, skips a library for lacking. */
const MACHINE = process.arch === "arm64" ? 183 : 62;

/** A 64-bit little-endian ELF object for this machine (the linker skips any other). */
function forThisMachine(path: string): boolean {
  const head = new Uint8Array(20);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    if (readSync(fd, head, 0, 20, 0) < 20) return false;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
  const elf = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  return elf && head[4] === 2 /* ELFCLASS64 */ && head[5] === 1 /* little-endian */ && (head[18]! | (head[19]! << 8)) === MACHINE;
}

/** Debian's multiarch folders for this machine, where ld.so.conf does not name them. */
function multiarchFolders(): string[] {
  const triple = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [`/lib/${triple}`, `/usr/lib/${triple}`];
}
