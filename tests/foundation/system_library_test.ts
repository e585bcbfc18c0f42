/**
 * Shared libraries load from the system's folders only (foundation/system_library.ts): Bun's
 * dlopen tries a bare name the system does not have again from the current directory, so on a
 * host without libasound2 a libasound.so.2 planted there ran its code in pacer. Story: the real
 * libasound hidden (a private mount), a planted one in the working folder is never loaded and
 * `pacer devices` says in one line that libasound is missing; and the lookup itself.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemLibrary } from "../../foundation/system_library.ts";
import { havePeer, MAIN } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-lib-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a library is found in the system's folders; one only in the current directory is not given at all", () => {
  const libc = systemLibrary("libc.so.6");
  expect(libc?.startsWith("/")).toBe(true);
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    writeFileSync(join(dir, "libplanted.so.9"), "");
    expect(systemLibrary("libplanted.so.9")).toBeNull();
    // Nowhere at all: the bare name, for the linker's own cache.
    expect(systemLibrary("libnowhere.so.3")).toBe("libnowhere.so.3");
  } finally {
    process.chdir(cwd);
  }
});

test("a library of another machine or class is passed over, as the linker does (i386 multiarch's libc.so.6 sorted first and failed to load)", () => {
  const i386 = join(dir, "i386");
  mkdirSync(i386);
  // A 32-bit x86 ELF header: class 1, machine 3.
  const head = new Uint8Array(64);
  head.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  head[18] = 3;
  writeFileSync(join(i386, "libc.so.6"), head);
  const saved = process.env.LD_LIBRARY_PATH;
  process.env.LD_LIBRARY_PATH = i386;
  try {
    const found = systemLibrary("libc.so.6");
    expect(found).not.toBe(join(i386, "libc.so.6"));
    expect(found?.startsWith("/")).toBe(true);
  } finally {
    if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
    else process.env.LD_LIBRARY_PATH = saved;
  }
});

const real = systemLibrary("libasound.so.2");
const root = process.getuid?.() === 0;
test.skipIf(!root || !havePeer("gcc") || !havePeer("unshare") || real === null || !real.startsWith("/"))(
  "with libasound hidden, a libasound.so.2 in the working folder is not loaded: pacer devices says libasound is missing",
  () => {
    writeFileSync(join(dir, "h.c"), '#include <unistd.h>\n__attribute__((constructor)) static void c(void) { write(2, "HIJACKED\\n", 9); }\n');
    expect(Bun.spawnSync(["gcc", "-shared", "-fPIC", "-o", join(dir, "libasound.so.2"), join(dir, "h.c")]).exitCode).toBe(0);
    const script = `mount --bind /dev/null '${realpathSync(real!)}' && cd '${dir}' && exec '${process.execPath}' '${MAIN}' devices`;
    const run = Bun.spawnSync(["unshare", "-m", "sh", "-c", script], { stderr: "pipe", stdout: "pipe" });
    const stderr = run.stderr.toString();
    expect(stderr).not.toContain("HIJACKED");
    expect(stderr).toContain("libasound.so.2 not found");
    expect(run.exitCode).toBe(1);
  },
);
