/**
 * journald levels: under systemd, stderr is a stream to journald and JOURNAL_STREAM names it;
 * each line then carries its sd-daemon priority so `journalctl -p warning` finds warnings.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, underJournald } from "../../foundation/log.ts";

const LOG_MODULE = join(import.meta.dir, "..", "..", "foundation", "log.ts");

function streamId(fd: number): string {
  const stat = fstatSync(fd, { bigint: true });
  return `${stat.dev}:${stat.ino}`;
}

describe("journald priorities", () => {
  test("each level gets its sd-daemon prefix and loses the pacer: tag", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", journal: true, write: (l) => lines.push(l) });
    log.error("cannot bind", { port: 7070 });
    log.warn("destination unreachable");
    log.info("listening");
    log.debug("tick");
    expect(lines).toEqual(["<3>error: cannot bind port=7070", "<4>warn: destination unreachable", "<6>listening", "<7>debug: tick"]);
  });

  test("JSON lines keep their priority prefix, so journald stores pure JSON at the right level", () => {
    const lines: string[] = [];
    createLogger({ level: "info", json: true, journal: true, write: (l) => lines.push(l) }).warn("late", { job: 3 });
    expect(lines[0]!.startsWith("<4>{")).toBe(true);
    expect(JSON.parse(lines[0]!.slice(3))).toMatchObject({ level: "warn", msg: "late", job: 3 });
  });

  test("without journal, lines are as before", () => {
    const lines: string[] = [];
    createLogger({ level: "info", write: (l) => lines.push(l) }).warn("late");
    expect(lines).toEqual(["pacer: warn: late"]);
  });
});

describe("underJournald", () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-journal-"));
  const stream = openSync(join(dir, "stream"), "w");
  const other = openSync(join(dir, "other"), "w");

  test("is true only when JOURNAL_STREAM names this very descriptor", () => {
    expect(underJournald({ JOURNAL_STREAM: streamId(stream) }, stream)).toBe(true);
    expect(underJournald({ JOURNAL_STREAM: streamId(other) }, stream)).toBe(false);
    expect(underJournald({}, stream)).toBe(false);
    expect(underJournald({ JOURNAL_STREAM: "garbage" }, stream)).toBe(false);
  });

  test("a process whose stderr is the named stream writes prefixed lines; redirected elsewhere, plain ones", async () => {
    const script = `import { createLogger, underJournald } from ${JSON.stringify(LOG_MODULE)};
      createLogger({ level: "info", journal: underJournald() }).warn("device busy");`;
    const run = async (stderrPath: string, journalStream: string) => {
      const fd = openSync(stderrPath, "w");
      const child = Bun.spawn([process.execPath, "-e", script], {
        stderr: fd,
        env: { ...process.env, JOURNAL_STREAM: journalStream },
      });
      await child.exited;
      const id = streamId(fd);
      closeSync(fd);
      return { text: readFileSync(stderrPath, "utf8"), id };
    };
    // The first run learns its file's identity; the second names it, as systemd would.
    const first = await run(join(dir, "journal"), "0:0");
    expect(first.text).toBe("pacer: warn: device busy\n");
    const named = await run(join(dir, "journal"), first.id);
    expect(named.text).toBe("<4>warn: device busy\n");
    // An inherited JOURNAL_STREAM with stderr redirected to a pipe or file keeps plain lines.
    const redirected = await run(join(dir, "redirected"), first.id);
    expect(redirected.text).toBe("pacer: warn: device busy\n");
  });

  afterAll(() => {
    closeSync(stream);
    closeSync(other);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("text from the network stays on its line", () => {
  test("a newline or other control character in a message is escaped, so it cannot forge a log entry", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", write: (l) => lines.push(l) });
    log.warn('play "a\nerror: forged\r\u0000" refused', { to: "x\ny" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\x00-\x1f]/);
    expect(lines[0]).toBe('pacer: warn: play "a\\nerror: forged\\r\\u0000" refused to="x\\ny"');
  });
});
