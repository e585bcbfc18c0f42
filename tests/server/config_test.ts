import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  DEFAULT_CONFIG_TOML,
  KeyFileError,
  loadConfig,
  parseConfig,
  readKey,
} from "../../server/config.ts";
import { isLoopbackHost, parseHostPort } from "../../foundation/net/address.ts";
import { destinationAllowed } from "../../server/policy.ts";

const SRC = "/etc/pacer.toml";

function errorOf(text: string): string {
  try {
    parseConfig(text, SRC);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("the embedded default", () => {
  test("is what DESIGN.md promises", async () => {
    const config = await loadConfig();
    expect(config.source).toBe("(embedded default)");
    expect(config.control).toEqual({ host: "127.0.0.1", port: 7070, text: "127.0.0.1:7070" });
    expect(config.mediaRoot).toBe("./media");
    expect(config.keyFile).toBeUndefined();
    expect(config.interestTimeoutMs).toBe(10_000);
    expect(config.user).toBe("nobody");
    expect(config.group).toBeUndefined(); // nobody or nogroup, decided at privilege-drop time
    expect(config.allowDestinations).toEqual([]);
    expect(config.http).toBeUndefined();
    expect(config.limits).toEqual({ maxJobs: 1000, maxJobsPerClient: 1000, maxDestinationsPerJob: 16, requestsPerSecond: 50, requestBurst: 100, maxBitrate: 100_000_000, maxQueuedTracks: 1000, maxQueuedTracksPerClient: 1000 });
    expect(config.live).toEqual([]);
  });

  test("an empty file means the same as the embedded default", () => {
    const { source: _a, ...fromEmpty } = parseConfig("", "empty.toml");
    const { source: _b, ...fromDefault } = parseConfig(DEFAULT_CONFIG_TOML, "default");
    expect(fromEmpty).toEqual(fromDefault);
  });
});

describe("a full config", () => {
  test("parses every key", () => {
    const config = parseConfig(
      `
control = "0.0.0.0:7070"
key_file = "/etc/pacer/key"
media_root = "/srv/media"
interest_timeout = 2.5
user = "pacer"
group = "audio"
allow_destinations = ["239.0.0.0/8", "2001:db8::/32"]
http = "[::1]:9090"

[limits]
max_jobs = 20
max_jobs_per_client = 3
max_destinations_per_job = 4
requests_per_second = 5
request_burst = 10
max_bitrate = 50000000
max_queued_tracks = 50
max_queued_tracks_per_client = 5

[[live]]
name = "studio"
listen = "tcp://:9000"

[[live]]
name = "remote.van-2"
listen = "tcp://10.0.0.1:9001"
max_bitrate = 8000000
`,
      SRC,
    );
    expect(config.control.host).toBe("0.0.0.0");
    expect(config.keyFile).toBe("/etc/pacer/key");
    expect(config.interestTimeoutMs).toBe(2500);
    expect(config.group).toBe("audio");
    expect(config.http).toEqual({ host: "::1", port: 9090, text: "[::1]:9090" });
    expect(config.limits.maxJobs).toBe(20);
    expect(config.limits.maxJobsPerClient).toBe(3);
    expect(config.limits.maxQueuedTracks).toBe(50);
    expect(config.limits.maxQueuedTracksPerClient).toBe(5);
    // Without a share of its own, a client may hold every job (a database server on one address).
    expect(parseConfig("[limits]\nmax_jobs = 20", SRC).limits.maxJobsPerClient).toBe(20);
    expect(parseConfig("[limits]\nmax_queued_tracks = 20", SRC).limits.maxQueuedTracksPerClient).toBe(20);
    expect(config.live).toEqual([
      // A channel without max_bitrate takes [limits] max_bitrate.
      { name: "studio", latencyMs: 200, maxBitrate: 50_000_000, listen: { host: "", port: 9000, text: "tcp://:9000" } },
      { name: "remote.van-2", latencyMs: 200, maxBitrate: 8_000_000, listen: { host: "10.0.0.1", port: 9001, text: "tcp://10.0.0.1:9001" } },
    ]);
    expect(destinationAllowed("239.1.1.1", "10.0.0.5", config.allowDestinations)).toBe(true);
    expect(destinationAllowed("2001:db8::1", "10.0.0.5", config.allowDestinations)).toBe(true);
    expect(destinationAllowed("10.0.0.6", "10.0.0.5", config.allowDestinations)).toBe(false);
  });
});

describe("errors name the source and the key", () => {
  test.each([
    ["[limits]\nmax_jobs = \"x\"", `config ${SRC}: limits.max_jobs: expected a whole number ≥ 1, got "x"`],
    ["[limits]\nmax_jobs = 0", `config ${SRC}: limits.max_jobs: expected a whole number ≥ 1, got 0`],
    ["[limits]\nmax_jobs = 2.5", `config ${SRC}: limits.max_jobs: expected a whole number ≥ 1, got 2.5`],
    ["[limits]\nmax_jobs_per_client = 0", `config ${SRC}: limits.max_jobs_per_client: expected a whole number ≥ 1, got 0`],
    ["[limits]\nmax_queued_tracks = 0", `config ${SRC}: limits.max_queued_tracks: expected a whole number ≥ 1, got 0`],
    ["interest_timeout = -1", `config ${SRC}: interest_timeout: expected seconds > 0, got -1`],
    // Rounded to 0 ms, every stream expired as it started.
    ["interest_timeout = 0.0004", `config ${SRC}: interest_timeout: expected seconds ≥ 0.1 (a client keeps a stream alive three times in it), got 0.0004`],
    ["interest_timeout = 10000000", "interest_timeout: expected seconds ≤ 86400 (the value is in seconds, not ms)"],
    ['control = "7070"', 'control: expected "HOST:PORT" such as "127.0.0.1:7070" (IPv6 as "[::1]:7070"), got "7070"'],
    ['control = "127.0.0.1:70000"', "control: expected \"HOST:PORT\""],
    ['http = "localhost"', 'http: expected "HOST:PORT" such as "127.0.0.1:9090"'],
    ['media_root = ""', "media_root: expected a directory path, not an empty string"],
    ['user = 0', "user: expected a user name, got 0"],
    ['allow_destinations = ["10.0.0.0/8", "10.0.0.0/40"]', 'allow_destinations[1]: expected a network such as "10.0.0.0/8"'],
    ['allow_destinations = "10.0.0.0/8"', "allow_destinations: expected a list of networks"],
    ['[[live]]\nname = "studio"', 'live[0]: give either listen = "tcp://:PORT" (an acquisition source connects) or input = "udp://@…", not neither'],
    ['[[live]]\nname = "a"\ninput = "udp://@:5000"\nkey_file = "k"', "live[0].key_file: only a listen channel takes a key"],
    ['[[live]]\nname = "studio"\nlisten = "udp://:9000"', 'live[0].listen: expected "tcp://:PORT" or "tcp://HOST:PORT", such as "tcp://:9000", got "udp://:9000"'],
    ['http = "127.0.0.1:9000"\n[[live]]\nname = "a"\nlisten = "tcp://:9000"', "live[0].listen: port 9000 is the http port too; give them different ports"],
    // Checked as the input would be opened, when the config loads, not at a recording's first run.
    ['[[live]]\nname = "a"\ninput = "udp://@:5000?rcvbuf=16M"', "live[0].input: udp:// option rcvbuf=16M: must be a whole number from 1 to 1073741824"],
    ['[[recording]]\nname = "r"\nsource = "udp://127.0.0.1:5000"\nout = "r.ts"', 'recording[0].source: "udp://127.0.0.1:5000": to receive, write udp://@127.0.0.1:5000'],
    ['[[live]]\nname = "a b"\nlisten = "tcp://:9000"', "live[0].name: expected a name of letters, digits"],
    // The cron library's own error for it was a paragraph naming the cron.
    [
      '[[recording]]\nname = "r"\nsource = "udp://@:5000"\nout = "r.ts"\ncron = "* * * * *"\nduration = "1h"\ntimezone = "Mars/Olympus"',
      `config ${SRC}: recording[0].timezone: unknown time zone "Mars/Olympus" (an IANA name such as Europe/Berlin, or UTC)`,
    ],
    ['[[live]]\nname = "a"\nlisten = "tcp://:9000"\nmax_bitrate = 0', `live[0].max_bitrate: expected bits per second, a whole number ≥ 1000 (1k, the least a play's "bitrate" may be), got 0`],
    // Below the least bitrate a play may ask for: every play giving one was refused as over the limit.
    ["[limits]\nmax_bitrate = 1", `config ${SRC}: limits.max_bitrate: expected bits per second, a whole number ≥ 1000 (1k, the least a play's "bitrate" may be), got 1`],
    [
      '[[live]]\nname = "a"\nlisten = "tcp://:9000"\n[[live]]\nname = "a"\nlisten = "tcp://:9001"',
      'live[1].name: "a" is used by another [[live]] input',
    ],
    [
      '[[live]]\nname = "a"\nlisten = "tcp://:9000"\n[[live]]\nname = "b"\nlisten = "tcp://:9000"',
      "live[1].listen: port 9000 is used by another [[live]] input",
    ],
  ])("%p", (text, expected) => {
    const message = errorOf(text);
    expect(message).toContain(expected);
    expect(message).not.toContain("\n");
  });

  test("unknown keys are errors, catching typos", () => {
    expect(errorOf('contol = "127.0.0.1:7070"')).toBe(
      `config ${SRC}: contol: unknown key; check its spelling against the documented keys`,
    );
    expect(errorOf("[limits]\nmax_job = 5")).toContain("limits.max_job: unknown key");
    expect(errorOf('[[live]]\nname = "a"\nlisten = "tcp://:9000"\nport = 1')).toContain("live[0].port: unknown key");
  });

  test("a table given another value, or a list, is refused as that, not as a missing key", () => {
    // These said "speaker: missing; this key is required", and `speaker = []` set up a speaker on alsa:default.
    expect(errorOf("speaker = 5")).toBe(`config ${SRC}: speaker: expected a table ([speaker]), got 5`);
    expect(errorOf("speaker = []")).toBe(`config ${SRC}: speaker: expected a table ([speaker]), got Array`);
    expect(errorOf('limits = "x"')).toBe(`config ${SRC}: limits: expected a table ([limits]), got "x"`);
    expect(errorOf("live = [1]")).toBe(`config ${SRC}: live[0]: expected a [[live]] table, got 1`);
    expect(errorOf('recording = ["x"]')).toBe(`config ${SRC}: recording[0]: expected a [[recording]] table, got "x"`);
    expect(errorOf("[speaker.decoders]\nflac = 3")).toBe(
      `config ${SRC}: speaker.decoders.flac: expected a table such as { command = "flac -dcs {path}", format = "s16le:44100:2" }, got 3`,
    );
    // A key that is missing is still said so.
    expect(errorOf('[speaker.decoders]\nflac = { format = "s16le:44100:2" }')).toBe(`config ${SRC}: speaker.decoders.flac.command: missing; this key is required`);
  });

  test("a TOML syntax error says so", () => {
    expect(errorOf("control = ")).toMatch(new RegExp(`^config ${SRC}:1: not valid TOML: `));
  });

  test("a TOML syntax error names its line (Bun's parser says only what, not where)", async () => {
    // A duplicate key, a duplicate table, a value missing, each after valid lines and a multi-line array.
    const head = '# pacer\ncontrol = "127.0.0.1:7070"\nallow_destinations = [\n  "10.0.0.0/8",\n]\n\n[limits]\nmax_jobs = 5\n';
    expect(errorOf(head + "max_jobs = 6\n")).toBe(`config ${SRC}:9: not valid TOML: Cannot redefine key 'max_jobs'`);
    expect(errorOf(head + "[limits]\n")).toBe(`config ${SRC}:9: not valid TOML: Cannot redefine table 'limits'`);
    expect(errorOf(head + "\r\nmax_bitrate =\r\nrequest_burst = 4\r\n")).toMatch(new RegExp(`^config ${SRC}:10: not valid TOML: Missing value`));
    // Left open: placed where it opens, not at the end of the file.
    expect(errorOf(head + 'user = "nobody\nmax_bitrate = 5\n')).toMatch(new RegExp(`^config ${SRC}:9: not valid TOML: Unterminated string`));
    expect(errorOf("user = \"x\"\nallow_destinations = [\n\"10.0.0.0/8\",\n")).toMatch(new RegExp(`^config ${SRC}:2: not valid TOML: Unterminated array`));
    // Through a real file, as pacer serve --config reads it.
    const dir = await mkdtemp(join(tmpdir(), "pacer-config-"));
    try {
      const file = join(dir, "syntax.toml");
      await writeFile(file, head + "max_jobs = 6\n");
      await expect(loadConfig(file)).rejects.toThrow(`config ${file}:9: not valid TOML: Cannot redefine key 'max_jobs'`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a syntax error deep in a 5000-line config is named by its line, in a bounded number of parses", () => {
    // Four lines a recording, with a multi-line string; quotes, brackets and # inside strings; a multi-line array.
    const recording = (i: number) => `[[recording]]\nname = "r${i} [#\\" ]"\nsource = """udp://@127.0.0.1:${5000 + i}\n"""`;
    const lines: string[] = ["allow_destinations = [ # a comment ]", '  "10.0.0.0/8", "[x]"]', "empty = ''''''"];
    for (let i = 0; lines.length < 5000; i++) lines.push(...recording(i).split("\n"));
    const at = (line: number, text: string) => lines.map((l, i) => (i === line - 1 ? text : l)).join("\n") + "\n";
    expect(Bun.TOML.parse(lines.join("\n"))).toHaveProperty("recording.length", 1250);
    expect(lines[3999]).toBe("[[recording]]");
    expect(errorOf(at(4000, 'name = "twice"'))).toBe(`config ${SRC}:4000: not valid TOML: Cannot redefine key 'name'`);
    expect(errorOf(at(4000, "x = "))).toMatch(new RegExp(`^config ${SRC}:4000: not valid TOML: Missing value`));
    // A string left open there: placed where it opens.
    expect(errorOf(at(4000, "x = '''open"))).toMatch(new RegExp(`^config ${SRC}:4000: not valid TOML: Unterminated string`));
    // Counted through the real parser: the line-by-line search from the bottom parsed ~5000 times for line 2.
    const parse = Bun.TOML.parse;
    let parses = 0;
    Bun.TOML.parse = (input) => (parses++, parse(input));
    try {
      errorOf(at(2, "x = = 1"));
    } finally {
      Bun.TOML.parse = parse;
    }
    expect(parses).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(5000)));
  });

  test("the value quoted back is the value, escaped to stay on one line", () => {
    // valibot's own `received` gave an empty string's length, and a newline in the value split the line.
    expect(errorOf('media_root = ""')).toBe(`config ${SRC}: media_root: expected a directory path, not an empty string, got ""`);
    expect(errorOf('control = "a\\npacer: serving"')).toBe(
      `config ${SRC}: control: expected "HOST:PORT" such as "127.0.0.1:7070" (IPv6 as "[::1]:7070"), got "a\\npacer: serving"`,
    );
    const recording = (key: string) => `[[recording]]\nname = "x"\nsource = "udp://@127.0.0.1:5000"\nout = "a.ts"\nduration = 5\n${key}\n`;
    expect(errorOf(recording('timezone = "a\\nb"'))).toBe(
      `config ${SRC}: recording[0].timezone: unknown time zone "a\\nb" (an IANA name such as Europe/Berlin, or UTC)`,
    );
    expect(errorOf(recording('cron = "* * *\\n* * * *"'))).toStartWith(`config ${SRC}: recording[0].cron: "* * *\\n* * * *" has 7 fields`);
    for (const text of ['[[live]]\nname = "x"\nlisten = "tcp://a\\r\\nb"', recording('cron = "* * *\\n* * * *"'), 'user = ""\n[limits]\nmax_jobs = "5\\n6"']) {
      expect(errorOf(text)).not.toMatch(/[\u0000-\u001f]/);
    }
    // A long value is cut, its length said.
    expect(errorOf(`control = "${"a".repeat(500)}"`)).toEndWith(`got "${"a".repeat(118)}…" (500 characters)`);
  });

  test("a path, name or command with a NUL byte is refused when the config loads", () => {
    // Taken before, then failed where used in Node's words ("The argument 'path' must be … without null bytes").
    expect(errorOf('media_root = "/srv/me\\u0000dia"')).toStartWith(`config ${SRC}: media_root: expected a directory path without a NUL byte`);
    expect(errorOf('recording_root = "\\u0000"')).toStartWith(`config ${SRC}: recording_root: expected a directory path without a NUL byte`);
    expect(errorOf('key_file = "/etc/k\\u0000"')).toStartWith(`config ${SRC}: key_file: expected a path to the key file without a NUL byte`);
    expect(errorOf('user = "no\\u0000body"')).toStartWith(`config ${SRC}: user: expected a user name without a NUL byte`);
    expect(errorOf('[[recording]]\nname = "x"\nsource = "udp://@127.0.0.1:5000"\nout = "a\\u0000.ts"')).toStartWith(
      `config ${SRC}: recording[0].out: may not contain a NUL byte`,
    );
  });

  test("a non-loopback control address without key_file is refused", () => {
    expect(errorOf('control = "0.0.0.0:7070"')).toBe(
      `config ${SRC}: control: refusing to listen on 0.0.0.0:7070 without key_file; set key_file, or use a loopback address such as 127.0.0.1:7070`,
    );
    expect(errorOf('control = "[::]:7070"')).toContain("refusing to listen on [::]:7070 without key_file");
    expect(errorOf('control = "pacer.example.com:7070"')).toContain("without key_file");
  });

  test("loopback control addresses need no key", () => {
    for (const control of ["127.0.0.1:7070", "127.1.2.3:7070", "[::1]:7070", "localhost:7070", "[::ffff:127.0.0.1]:7070"]) {
      expect(parseConfig(`control = "${control}"`, SRC).keyFile).toBeUndefined();
    }
  });
});

describe("host and port helpers", () => {
  test("parseHostPort", () => {
    expect(parseHostPort("10.0.0.1:80")).toEqual({ host: "10.0.0.1", port: 80, text: "10.0.0.1:80" });
    expect(parseHostPort("[2001:db8::1]:80")?.host).toBe("2001:db8::1");
    expect(parseHostPort("2001:db8::1:80")).toBeNull(); // IPv6 needs brackets
    expect(parseHostPort(":80")).toBeNull();
    expect(parseHostPort(":80", { allowEmptyHost: true })?.host).toBe("");
    expect(parseHostPort("host:0")).toBeNull();
  });

  test("isLoopbackHost", () => {
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("::1")).toBe(true);
    expect(isLoopbackHost("LOCALHOST")).toBe(true);
    expect(isLoopbackHost("0.0.0.0")).toBe(false);
    expect(isLoopbackHost("::")).toBe(false);
    expect(isLoopbackHost("10.0.0.1")).toBe(false);
  });
});

describe("files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pacer-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("loadConfig reads a file and names it in errors", async () => {
    const path = join(dir, "pacer.toml");
    await writeFile(path, 'media_root = "/srv/media"\n');
    expect((await loadConfig(path)).mediaRoot).toBe("/srv/media");
    await writeFile(path, "[limits]\nmax_jobs = \"x\"\n");
    await expect(loadConfig(path)).rejects.toThrow(`config ${path}: limits.max_jobs: expected a whole number ≥ 1, got "x"`);
  });

  test("loadConfig of a missing file says what to do", async () => {
    const path = join(dir, "missing.toml");
    await expect(loadConfig(path)).rejects.toThrow(`config ${path}: cannot read it (ENOENT); check the path and permissions`);
  });

  test("a config or key file far larger than any is refused unread, /dev/zero too", async () => {
    // 2 MiB of valid TOML (comments): read whole, and /dev/zero took memory until the kernel killed the server.
    const big = join(dir, "big.toml");
    await writeFile(big, "# padding\n".repeat(210_000));
    await expect(loadConfig(big)).rejects.toThrow(`config ${big}: larger than 1 MiB, which no config is; check the path`);
    await expect(loadConfig("/dev/zero")).rejects.toThrow("config /dev/zero: larger than 1 MiB");
    const bigKey = join(dir, "big.key");
    await writeFile(bigKey, "k".repeat(100_000));
    await expect(readKey(bigKey)).rejects.toThrow(`key file ${bigKey}: larger than 64 KiB, which no key is`);
    await expect(readKey("/dev/zero")).rejects.toThrow("key file /dev/zero: larger than 64 KiB");
    // Just under the bound still loads.
    const fine = join(dir, "fine.toml");
    await writeFile(fine, "# padding\n".repeat(100_000) + "[limits]\nmax_jobs = 7\n");
    expect((await loadConfig(fine)).limits.maxJobs).toBe(7);
  });

  test("readKey reads hex keys as bytes", async () => {
    const path = join(dir, "hex.key");
    await writeFile(path, "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n");
    const key = await readKey(path);
    expect(key.length).toBe(32);
    expect(key[1]).toBe(0x11);
    expect(key[31]).toBe(0xff);
  });

  test("readKey reads other text as raw bytes, trimmed", async () => {
    const path = join(dir, "text.key");
    await writeFile(path, "  correct horse battery staple\n");
    expect(new TextDecoder().decode(await readKey(path))).toBe("correct horse battery staple");
  });

  test("readKey refuses empty, short and unreadable keys with a fix", async () => {
    const empty = join(dir, "empty.key");
    await writeFile(empty, " \n");
    await expect(readKey(empty)).rejects.toThrow(KeyFileError);
    await expect(readKey(empty)).rejects.toThrow(`key file ${empty}: it is empty; write a key with: openssl rand -hex 32 > ${empty}`);
    const short = join(dir, "short.key");
    await writeFile(short, "abcd");
    await expect(readKey(short)).rejects.toThrow("the key is 2 bytes, at least 16 are needed");
    await expect(readKey(join(dir, "nope.key"))).rejects.toThrow("cannot read it (ENOENT)");
    if (process.getuid?.() !== 0) {
      const locked = join(dir, "locked.key");
      await writeFile(locked, "correct horse battery staple");
      await chmod(locked, 0o000);
      await expect(readKey(locked)).rejects.toThrow("cannot read it (EACCES); check the path, and that the user pacer runs as can read it");
    }
  });

  test("a key file or config that is a FIFO no program writes to fails in about a second; one whose writer is slow is read", async () => {
    // Before: the open waited for a writer for good, and a server's reload with it, and every reload queued behind it.
    const fifo = join(dir, "fifo.key");
    execFileSync("mkfifo", [fifo]);
    // Frees an open stuck on the FIFO now and then, so that without the bound this test fails, not hangs.
    const rescue = setInterval(() => {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {}
    }, 1_500);
    try {
      const startedAt = performance.now();
      await expect(readKey(fifo)).rejects.toThrow(`key file ${fifo}: cannot read it (a FIFO that no program writes to)`);
      await expect(loadConfig(fifo)).rejects.toThrow(`config ${fifo}: cannot read it (a FIFO that no program writes to)`);
      expect(performance.now() - startedAt).toBeLessThan(3_000);
    } finally {
      clearInterval(rescue);
    }
    // A writer that comes late, and writes later still (as `<(pass show key)` may): the key is read.
    const slow = join(dir, "slow.key");
    execFileSync("mkfifo", [slow]);
    const writer = spawn("sh", ["-c", `sleep 0.3; exec 3>${slow}; sleep 0.3; echo "  correct horse battery staple" >&3`]);
    try {
      expect(new TextDecoder().decode(await readKey(slow))).toBe("correct horse battery staple");
    } finally {
      writer.kill();
    }
  }, 4_000);
});
