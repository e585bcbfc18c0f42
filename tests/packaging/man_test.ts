/**
 * The man pages say what pacer says: they are generated from the --help texts and the embedded
 * default config, committed, and must be current; they render without a groff warning; every
 * option of every --help is in the page, in that command's section, and the page names no other.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, DEFAULT_CONFIG_TOML } from "../../server/config.ts";
import { configTables, exampleConfig, uncommentedConfig } from "../../scripts/config_doc.ts";
import { collectHelp, flagsIn, type PacerHelp, REPO } from "../../scripts/help_text.ts";
import { renderManPages } from "../../scripts/man.ts";
import { havePeer } from "../helpers/pacer.ts";

let help: PacerHelp;
let pages: Record<string, string>;
beforeAll(async () => {
  help = await collectHelp();
  pages = renderManPages(help);
}, 30_000); // `pacer CMD --help` for every command: a start-up each, slow on a busy host

/** The page as a reader sees it: plain text, no bold or underline. */
function render(path: string): { text: string; warnings: string } {
  const result = Bun.spawnSync(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", join(REPO, path)], { stdout: "pipe", stderr: "pipe" });
  expect(result.exitCode).toBe(0);
  return { text: result.stdout.toString(), warnings: result.stderr.toString() };
}

/** The rendered text under each heading (".SH" at column 3... as groff lays them out). */
function sections(text: string): Map<string, string> {
  const found = new Map<string, string>();
  let current = "";
  for (const line of text.split("\n")) {
    const heading = /^([A-Z][A-Z ]+)$/.exec(line) ?? /^ {3}(pacer \w+)$/.exec(line);
    if (heading) current = heading[1]!;
    else found.set(current, (found.get(current) ?? "") + line + "\n");
  }
  return found;
}

describe("man pages", () => {
  test("the committed pages are what `npm run man` generates now", () => {
    for (const [path, text] of Object.entries(pages)) {
      const committed = readFileSync(join(REPO, path), "utf8");
      if (committed !== text) throw new Error(`${path} is stale: run "npm run man" and commit it`);
    }
  });

  test("both render with groff -ww and not one warning", () => {
    if (!havePeer("groff")) return;
    for (const path of Object.keys(pages)) expect(render(path).warnings).toBe("");
  });

  test("pacer(1): each --help's options are in its own section, and the page names no option the help does not", () => {
    if (!havePeer("groff")) return;
    const text = render("man/pacer.1").text;
    const bySection = sections(text);
    const main = (bySection.get("SYNOPSIS") ?? "") + (bySection.get("DESCRIPTION") ?? "");
    expect(flagsIn(main).sort()).toEqual(flagsIn(help.main.text).sort());
    for (const command of help.commands) {
      const section = bySection.get(`pacer ${command.name}`);
      expect(section).toBeDefined();
      expect({ command: command.name, flags: flagsIn(section!).sort() }).toEqual({ command: command.name, flags: flagsIn(command.text).sort() });
    }
    const everyHelp = new Set([help.main, ...help.commands].flatMap((h) => flagsIn(h.text)));
    expect(flagsIn(text).filter((flag) => !everyHelp.has(flag))).toEqual([]);
    // Hyphens render as ASCII, so an option copied from the page works.
    expect(text).not.toMatch(/[\u2010\u2212]/);
  });

  test("pacer.toml(5) documents every key of the embedded default, and each is one the config accepts", () => {
    if (!havePeer("groff")) return;
    const text = render("man/pacer.toml.5").text;
    for (const table of configTables(DEFAULT_CONFIG_TOML)) {
      if (table.name) expect(text).toContain(table.repeated ? `[[${table.name}]]` : `[${table.name}]`);
      const header = table.name === "" ? "" : table.repeated ? `[[${table.name}]]\n` : `[${table.name}]\n`;
      for (const group of table.groups) {
        for (const key of group.keys) {
          expect(text).toMatch(new RegExp(`^ {7}${key.name} (=|\\(unset)`, "m"));
          // A key the schema does not know is an error, so this proves the page names real keys.
          if (!table.repeated) expect(() => parseConfig(`${header}${key.name} = ${key.value}\n`, "man page")).not.toThrow();
        }
      }
      if (table.repeated) {
        const block = header + table.groups.flatMap((g) => g.keys.map((k) => `${k.name} = ${k.value}`)).join("\n");
        expect(() => parseConfig(block, "man page")).not.toThrow();
      }
    }
  });

  test("the example config means the embedded default, and uncommented it is still valid", () => {
    const { source: _a, ...fromDefault } = parseConfig(DEFAULT_CONFIG_TOML, "default");
    const { source: _b, ...fromExample } = parseConfig(exampleConfig(DEFAULT_CONFIG_TOML), "example");
    expect(fromExample).toEqual(fromDefault);
    expect(exampleConfig(DEFAULT_CONFIG_TOML)).not.toMatch(/^[a-z_[]/m);
    expect(() => parseConfig(uncommentedConfig(DEFAULT_CONFIG_TOML), "every key set")).not.toThrow();
  });
});
