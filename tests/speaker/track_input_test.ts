/**
 * A track's decoder that dies of a signal, as a real `sh -c` decoder: its failure names the
 * signal, whether the decoder itself was killed or a shell reports it (128 + its number). Before,
 * the first read "decoder exited with status 128", the second "status 137".
 */
import { describe, expect, test } from "bun:test";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { openTrackInput } from "../../speaker/track_input.ts";

const FORMAT = parseSampleFormat("s16le:44100:2");

/** Reads `command`'s track to its end; the error it ends with, or how many bytes it gave. */
async function failureOf(command: string): Promise<string> {
  const input = await openTrackInput("/dev/null/x.raw", "x.raw", new Map([["raw", { command, format: FORMAT }]]));
  let bytes = 0;
  try {
    for (let block = await input.read(); block; block = await input.read()) bytes += block.length;
    return `no error, ${bytes} bytes`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    input.close();
  }
}

describe("a decoder killed by a signal", () => {
  test("the decoder itself killed: its failure names the signal", async () => {
    // Some audio first, then the shell (the decoder here) kills itself.
    expect(await failureOf("head -c 8000 /dev/zero; kill -KILL $$ # {path}")).toBe("x.raw: decoder was killed by SIGKILL");
  });

  test("a command the shell ran killed: the shell's 128 + N is named too", async () => {
    // ...and then its stderr's last line, as for any decoder's failure (dash: "Terminated").
    expect(await failureOf(`head -c 8000 /dev/zero; sh -c 'kill -TERM $$'; exit $? # {path}`)).toStartWith(
      "x.raw: decoder exited with status 143 (killed by SIGTERM, as a shell reports it)",
    );
  });
});

describe("a decoder that has given its audio but does not end", () => {
  // Sleeps of this run's own length, so that pgrep finds these and no other test's `sleep 30`
  // (another run on the host, or a test before this one): with "sleep 30", one failed them.
  const lingering = `30.${process.pid}`;
  const holding = `29.${process.pid}`;
  const running = (seconds: string) => Bun.spawnSync(["pgrep", "-f", `^sleep ${seconds.replace(".", "\\.")}$`]).stdout.toString().trim();

  test("one that closes its stdout and lingers is ended a second later and fails its track", async () => {
    const started = Date.now();
    // Before, the track (and the queue behind it) waited the whole 30 s for its exit.
    const failure = await failureOf(`head -c 8000 /dev/zero; exec >&-; sleep ${lingering} # {path}`);
    expect(failure).toBe("x.raw: the decoder closed its output but had not exited 1 s later; ended it");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(running(lingering)).toBe("");
  });

  test("one whose background child holds its stderr after it exited 0 plays to its end a second later", async () => {
    const started = Date.now();
    // Before, its exit status was known only once its `sleep` let go of the stderr pipe.
    expect(await failureOf(`head -c 8000 /dev/zero; sleep ${holding} >&2 & # {path}`)).toBe("no error, 8000 bytes");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(running(holding)).toBe("");
  });
});
