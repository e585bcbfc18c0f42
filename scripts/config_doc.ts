/**
 * The keys of `pacer serve`'s TOML config, read from DEFAULT_CONFIG_TOML, which server/config.ts
 * keeps as the reference for every key: each key line (set, or commented out as an example)
 * with the comment lines above it, grouped by table. pacer.toml(5) and the release's example
 * config are generated from this, so they say what the embedded default says.
 *
 * @example
 * ```ts
 * const tables = configTables(DEFAULT_CONFIG_TOML);
 * tables[0].groups[0]; // { description: "Control endpoint, UDP HOST:PORT. …", keys: [{ name: "control", value: '"127.0.0.1:7070"', set: true }] }
 * exampleConfig(DEFAULT_CONFIG_TOML); // the same text with every key commented out
 * ```
 */

export interface ConfigKey {
  name: string;
  /** The value as TOML writes it: the default when `set`, an example otherwise. */
  value: string;
  /** Set in the embedded default (false: commented out, so unset unless you set it). */
  set: boolean;
}

/** Keys written together under one comment, which describes them all. */
export interface KeyGroup {
  description: string;
  keys: ConfigKey[];
}

export interface ConfigTable {
  /** "" for the top level, "limits" for [limits], "live" for [[live]]. */
  name: string;
  /** An array of tables ([[live]]): repeat the block for more. */
  repeated: boolean;
  description: string;
  groups: KeyGroup[];
}

const KEY_LINE = /^(# ?)?([a-z_][a-z0-9_]*) = (.+)$/;
const TABLE_LINE = /^(# ?)?(\[\[?)([a-z_][a-z0-9_.]*)\]\]?$/;

/** The tables and keys of a config written in DEFAULT_CONFIG_TOML's style. */
export function configTables(toml: string): ConfigTable[] {
  const tables: ConfigTable[] = [{ name: "", repeated: false, description: "", groups: [] }];
  let comment: string[] = [];
  let group: KeyGroup | null = null;
  for (const raw of toml.split("\n")) {
    const line = raw.trim();
    const table = TABLE_LINE.exec(line);
    const key = KEY_LINE.exec(line);
    if (line === "") {
      // A blank line ends a comment that no key followed (the file's title) and a group.
      comment = [];
      group = null;
    } else if (table) {
      tables.push({ name: table[3]!, repeated: table[2] === "[[", description: comment.join(" "), groups: [] });
      comment = [];
      group = null;
    } else if (key) {
      if (!group || comment.length > 0) {
        group = { description: comment.join(" "), keys: [] };
        tables.at(-1)!.groups.push(group);
      }
      group.keys.push({ name: key[2]!, value: key[3]!, set: key[1] === undefined });
      comment = [];
    } else if (line.startsWith("#")) {
      comment.push(line.replace(/^#\s?/, ""));
    } else {
      throw new Error(`config reference: cannot read line "${raw}"`);
    }
  }
  return tables;
}

/**
 * The config with every key and table commented out, each showing its default or an example:
 * as a file it means exactly the embedded default, and uncommenting a line changes one thing.
 */
export function exampleConfig(toml: string): string {
  // The reference's own title says it is the embedded default; the example says so below.
  const body = toml
    .replace(/^#[^\n]*\n\n/, "")
    .split("\n")
    .map((line) => (KEY_LINE.test(line) || TABLE_LINE.test(line)) && !line.startsWith("#") ? `# ${line}` : line)
    .join("\n");
  return (
    "# An example config for pacer serve (see pacer.toml(5)). Every key is commented out, so as it\n" +
    "# is this file means the embedded default; uncomment a line to change one thing.\n\n" +
    body
  );
}

/** Every commented-out key and table uncommented: the example values, all set at once. */
export function uncommentedConfig(toml: string): string {
  return toml
    .split("\n")
    .map((line) => (line.startsWith("#") && (KEY_LINE.test(line) || TABLE_LINE.test(line)) ? line.replace(/^# ?/, "") : line))
    .join("\n");
}
