import { describe, expect, test } from "bun:test";
import { describeExit } from "../../foundation/child_exit.ts";

describe("how a child ended, in words", () => {
  test("a signal is named, whether the child died of it or a shell reports it", () => {
    expect(describeExit(null, "SIGKILL")).toBe("was killed by SIGKILL");
    expect(describeExit(137, null)).toBe("exited with status 137 (killed by SIGKILL, as a shell reports it)");
    expect(describeExit(141, null)).toBe("exited with status 141 (killed by SIGPIPE, as a shell reports it)");
  });

  test("a plain status stays a status", () => {
    expect(describeExit(3, null)).toBe("exited with status 3");
    expect(describeExit(127, null)).toBe("exited with status 127 (command not found)");
    expect(describeExit(128, null)).toBe("exited with status 128");
    expect(describeExit(250, null)).toBe("exited with status 250");
  });
});
