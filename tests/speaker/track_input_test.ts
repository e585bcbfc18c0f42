/**
 * A track's decoder that dies of a signal, as a real `sh -c` decoder: its failure names the
 * signal, whether the decoder itself was killed or a shell reports it (128 + its number). Before,
 * the first read "decoder exited with status 128", the second "status 137".
 */
import { describe, expect, test } from "bun:test";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { openTrackInput } from "../../speaker/track_input.ts";

const FORMAT = parseSampleFormat("s16le:44100:2");

/** Reads `command`'s track to its end; the error it ends with. */
async function failureOf(command: string): Promise<string> {
  const input = await openTrackInput("/dev/null/x.raw", "x.raw", new Map([["raw", { command, format: FORMAT }]]));
  try {
    while (await input.read()) {}
    return "no error";
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
