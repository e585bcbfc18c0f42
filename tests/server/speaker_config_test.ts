/** `[speaker]` in the serve config: defaults, each key, and one-line errors naming the key. */
import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../server/config.ts";

const speakerOf = (toml: string) => parseConfig(toml, "test.toml").speaker;
const errorOf = (toml: string) => {
  try {
    parseConfig(toml, "test.toml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("the config was accepted");
};

describe("[speaker] config", () => {
  test("absent means no speaker; present alone means alsa:default, s16le:44100:2, 5 s ahead, released after 10 s idle", () => {
    expect(speakerOf("")).toBeUndefined();
    expect(speakerOf("[speaker]\n")).toEqual({
      outputs: ["alsa:default"],
      format: { encoding: "s16le", rate: 44_100, channels: 2 },
      follow: false,
      bufferSeconds: 5,
      idleCloseS: 10,
      idle: "nothing",
      decoders: {},
    });
  });

  test("every key is read, outputs as one or a list, decoders by lower-case extension", () => {
    const speaker = speakerOf(`[speaker]
output = ["cmd:cat > /tmp/out.raw", "rtp://239.1.2.3:5004?pt=10"]
format = "s24le:48000:2"
buffer_seconds = 2.5
idle_close = 0
idle = "silence"
on_start = "echo start"
on_finish = "echo $PACER_TRACK_STATUS"
[speaker.decoders]
FLAC = { command = "flac -dcs {path}", format = "s16le:44100:2" }
`)!;
    expect(speaker.outputs).toEqual(["cmd:cat > /tmp/out.raw", "rtp://239.1.2.3:5004?pt=10"]);
    expect(speaker.format).toEqual({ encoding: "s24le", rate: 48_000, channels: 2 });
    expect([speaker.bufferSeconds, speaker.idleCloseS, speaker.idle, speaker.onStart, speaker.onFinish]).toEqual([2.5, 0, "silence", "echo start", "echo $PACER_TRACK_STATUS"]);
    expect(speaker.decoders).toEqual({ flac: { command: "flac -dcs {path}", format: { encoding: "s16le", rate: 44_100, channels: 2 } } });
    expect(speakerOf(`[speaker]\noutput = "file:/tmp/x.raw"\n`)!.outputs).toEqual(["file:/tmp/x.raw"]);
  });

  test("alsa:…?follow=1 is the speaker's: taken off the URL the device opens with, and set as follow", () => {
    const speaker = speakerOf(`[speaker]\noutput = ["alsa:hw:0?follow=1&buffer=100", "rtp://127.0.0.1:5004"]\n`)!;
    expect(speaker.follow).toBe(true);
    expect(speaker.outputs).toEqual(["alsa:hw:0?buffer=100", "rtp://127.0.0.1:5004"]);
    expect(speakerOf(`[speaker]\noutput = "alsa:hw:0?follow=0"\n`)!).toMatchObject({ follow: false, outputs: ["alsa:hw:0"] });
    expect(errorOf(`[speaker]\noutput = "alsa:hw:0?follow=yes"\n`)).toBe("config test.toml: speaker.output: alsa:hw:0?follow=yes: follow=yes: expected 0 or 1");
    // A command line is the shell's: its "?" is not an option list.
    expect(speakerOf(`[speaker]\noutput = "cmd:ls ?follow=1"\n`)!).toMatchObject({ follow: false, outputs: ["cmd:ls ?follow=1"] });
  });

  test("an rtp:// output, or its RTCP, at the control port of this host is refused; elsewhere it is taken", () => {
    const control = 'control = "127.0.0.1:7070"\n';
    expect(errorOf(`${control}[speaker]\noutput = "rtp://[::1]:7070"`)).toBe("config test.toml: speaker.output: rtp://[::1]:7070: port 7070 is this server's own control port; send the stream to another port");
    expect(errorOf(`${control}[speaker]\noutput = ["alsa:default", "rtp://127.0.0.1:5004?rtcp=7070"]`)).toContain("its RTCP would go to port 7070");
    expect(speakerOf(`${control}[speaker]\noutput = "rtp://127.0.0.1:7069?rtcp=mux"`)?.outputs).toEqual(["rtp://127.0.0.1:7069?rtcp=mux"]);
    expect(speakerOf(`${control}[speaker]\noutput = "rtp://192.0.2.1:7070"`)?.outputs).toEqual(["rtp://192.0.2.1:7070"]);
  });

  test("mistakes are one line naming the key", () => {
    expect(errorOf(`[speaker]\noutput = "http://x/"\n`)).toMatch(/^config test\.toml: speaker\.output: expected an output such as "alsa:default"/);
    expect(errorOf(`[speaker]\noutput = []\n`)).toContain("speaker.output");
    expect(errorOf(`[speaker]\nformat = "s16:44100"\n`)).toMatch(/^config test\.toml: speaker\.format: expected ENCODING:RATE:CHANNELS/);
    expect(errorOf(`[speaker]\nbuffer_seconds = 0\n`)).toContain("speaker.buffer_seconds");
    expect(errorOf(`[speaker]\nidle_close = -1\n`)).toContain("speaker.idle_close");
    expect(errorOf(`[speaker]\nidle = "noise"\n`)).toMatch(/speaker\.idle: expected "nothing" or "silence"/);
    expect(errorOf(`[speaker]\nvolume = 3\n`)).toMatch(/speaker\.volume: unknown key/);
    expect(errorOf(`[speaker.decoders]\nmp3 = { command = "ffmpeg -i x -", format = "s16le:44100:2" }\n`)).toMatch(/speaker\.decoders\.mp3\.command: expected a command line with \{path\}/);
    expect(errorOf(`[speaker.decoders]\nmp3 = { command = "ffmpeg -i {path} -" }\n`)).toMatch(/speaker\.decoders\.mp3\.format: missing/);
    for (const message of [errorOf(`[speaker]\nidle = 1\n`), errorOf(`[speaker]\noutput = 5\n`)]) expect(message.split("\n")).toHaveLength(1);
  });
});
