/**
 * Story: the server opens a client-named media file so that nothing outside the media root can
 * be reached, even when a name's folder is swapped for a symlink out between the check and the
 * open (the security review's race). With openat2 (RESOLVE_BENEATH) and without it (the opened
 * descriptor's own path checked), names and symlinks that lead out are refused; an absolute
 * symlink that lands inside the root still works; and once opened, the descriptor holds the
 * checked file whatever happens to the names.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeneathError, openBeneath, setOpenat2ForTests } from "../../foundation/open_beneath.ts";
import { openMediaFile } from "../../server/policy.ts";

const base = mkdtempSync(join(tmpdir(), "pacer-beneath-"));
const root = join(base, "media");
const outside = join(base, "outside");
mkdirSync(join(root, "news"), { recursive: true });
mkdirSync(outside);
writeFileSync(join(root, "news", "a.ts"), "inside");
writeFileSync(join(outside, "a.ts"), "SECRET");
symlinkSync(outside, join(root, "out-absolute"));
symlinkSync("../outside", join(root, "out-relative"));
symlinkSync(join(root, "news"), join(root, "in-absolute"));
symlinkSync("news", join(root, "in-relative"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
afterEach(() => setOpenat2ForTests(null));

function reason(name: string): string {
  try {
    openBeneath(root, name);
  } catch (e) {
    expect(e).toBeInstanceOf(BeneathError);
    return (e as BeneathError).reason;
  }
  return "opened";
}

for (const [mode, openat2] of [["openat2 (RESOLVE_BENEATH)", null], ["without openat2 (the descriptor's path checked)", false]] as const) {
  describe(`openBeneath, ${mode}`, () => {
    test("opens names inside the root, through symlinks that stay inside", () => {
      for (const name of ["news/a.ts", "in-relative/a.ts", "in-absolute/a.ts"]) {
        setOpenat2ForTests(openat2);
        const fd = openBeneath(root, name);
        expect(readFileSync(`/proc/self/fd/${fd}`, "utf8")).toBe("inside");
      }
    });

    test("refuses .., absolute names and symlinks out, relative or absolute", () => {
      for (const name of ["../outside/a.ts", join(outside, "a.ts"), "out-relative/a.ts", "out-absolute/a.ts"]) {
        setOpenat2ForTests(openat2);
        expect(reason(name)).toBe("escapes");
      }
      setOpenat2ForTests(openat2);
      expect(reason("news/missing.ts")).toBe("missing");
    });

    // A FIFO swapped in after the server's checks must not hold the open: that would block the
    // thread that sends every stream until some writer came. In a child, so a hang is a timeout.
    test("a FIFO where the file should be is opened at once, for the caller to see it is no file", () => {
      const name = `pipe-${openat2 === null ? "openat2" : "fallback"}.ts`;
      execFileSync("mkfifo", [join(root, name)]);
      const module = join(import.meta.dir, "..", "..", "foundation", "open_beneath.ts");
      const script = `import { openBeneath, setOpenat2ForTests } from ${JSON.stringify(module)};
        import { fstatSync } from "node:fs";
        setOpenat2ForTests(${openat2});
        console.log(fstatSync(openBeneath(${JSON.stringify(root)}, ${JSON.stringify(name)})).isFIFO());`;
      const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 3_000 });
      expect(child.signal).toBeNull();
      expect(child.stdout.trim()).toBe("true");
    });
  });
}

describe("openMediaFile", () => {
  test("a folder swapped for a symlink out after the open cannot change what is read", async () => {
    const opened = await openMediaFile(root, "news/a.ts");
    if (!opened.ok) throw new Error(opened.message);
    // The attacker swaps news/ for a symlink to a folder outside that has the same file name.
    renameSync(join(root, "news"), join(root, "news-old"));
    symlinkSync(outside, join(root, "news"));
    try {
      expect(readFileSync(opened.openPath, "utf8")).toBe("inside");
      expect(readFileSync(join(root, "news", "a.ts"), "utf8")).toBe("SECRET"); // the name now leads out
      opened.close();
      // And a new request for the name is refused.
      const again = await openMediaFile(root, "news/a.ts");
      expect(again.ok).toBe(false);
      if (!again.ok) expect(again.code).toBe("forbidden");
    } finally {
      rmSync(join(root, "news"));
      renameSync(join(root, "news-old"), join(root, "news"));
    }
  });

  test("refuses a FIFO or a folder, and says not_found for a missing name", async () => {
    const folder = await openMediaFile(root, "news");
    expect(folder.ok ? "ok" : folder.code).toBe("forbidden");
    const missing = await openMediaFile(root, "news/none.ts");
    expect(missing.ok ? "ok" : missing.code).toBe("not_found");
  });
});
