/**
 * Story: an operator imports contrib/grafana-dashboard.json into Grafana and loads
 * contrib/prometheus-rules.yml into Prometheus. Every series a panel or a rule asks for exists in
 * a running server's /metrics, with the labels the query filters and groups by, so no panel is
 * empty and no alert silently never fires because of a misspelt name.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, freeUdpPort, type ServeFixture, startServe } from "../server/serve_fixture.ts";

const CONTRIB = join(import.meta.dir, "..", "..", "contrib");
/** Labels Prometheus adds itself, and the histogram's bucket label. */
const ADDED_LABELS = new Set(["instance", "job_name", "le"]);

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; definition?: string }[] };
}
interface Rules {
  groups: { name: string; rules: { alert: string; expr: string; for?: string; labels?: Record<string, string> }[] }[];
}

let serve: ServeFixture;
let metrics = "";
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `http = "127.0.0.1:${httpPort}"` });
  const rx = await udpReceiver();
  try {
    // Jobs running, so the per-destination series exist too; one sends to a closed port, so
    // the error counters have samples (ICMP port unreachable).
    const jobs: string[] = [];
    for (const port of [rx.port, await freeUdpPort()]) {
      const play = await runPacer(["ctl", "--server", serve.address, "play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${port}`]);
      expect(play.stderr).toBe("");
      jobs.push(play.stdout.trim());
    }
    // And one refused request, so the control error counter has a sample too.
    expect((await runPacer(["ctl", "--server", serve.address, "play", "missing.ts", "--to", `udp://127.0.0.1:${rx.port}`])).code).not.toBe(0);
    await Bun.sleep(1000);
    metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    for (const job of jobs) await runPacer(["ctl", "--server", serve.address, "stop", job]);
  } finally {
    rx.close();
  }
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

/** Metric family name → the label names its samples carry. */
function families(text: string): Map<string, Set<string>> {
  const types = new Map<string, string>();
  const out = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\w+) (\w+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      out.set(type[1]!, new Set());
      continue;
    }
    const sample = /^(\w+?)(_bucket|_sum|_count)?(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const family = out.has(sample[1]! + (sample[2] ?? "")) ? sample[1]! + (sample[2] ?? "") : sample[1]!;
    for (const m of (sample[3] ?? "").matchAll(/(\w+)="/g)) out.get(family)?.add(m[1]!);
  }
  return out;
}

/** Every `pacer_…` series an expression reads, with the labels it filters on and groups by. */
function uses(expr: string): { family: string; labels: string[] }[] {
  const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((s) => s.trim()));
  return [...expr.matchAll(/\b(pacer_\w+?)(?:_bucket|_sum|_count)?\b(?:\{([^}]*)\})?/g)].map((m) => ({
    family: m[1]!,
    labels: [...(m[2] ?? "").matchAll(/(\w+)\s*=~?/g)].map((l) => l[1]!).concat(grouped),
  }));
}

function checkExpr(where: string, expr: string, known: Map<string, Set<string>>): void {
  const used = uses(expr);
  expect(used.length, `${where} reads no pacer series`).toBeGreaterThan(0);
  for (const { family, labels } of used) {
    expect(known.has(family), `${where}: ${family} is not in /metrics`).toBe(true);
    for (const l of labels) {
      if (ADDED_LABELS.has(l)) continue;
      expect(known.get(family)!.has(l), `${where}: ${family} has no label ${l}`).toBe(true);
    }
  }
}

test("every Grafana panel queries series that /metrics has, with their labels", () => {
  const known = families(metrics);
  expect(known.has("pacer_send_accuracy_microseconds")).toBe(true);
  const dashboard = JSON.parse(readFileSync(join(CONTRIB, "grafana-dashboard.json"), "utf8")) as Dashboard;
  expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
  for (const panel of dashboard.panels) {
    expect(panel.targets.length, panel.title).toBeGreaterThan(0);
    for (const t of panel.targets) checkExpr(`panel "${panel.title}"`, t.expr, known);
  }
  for (const v of dashboard.templating.list) if (v.definition) checkExpr(`variable ${v.name}`, v.definition, known);
  // Every family the server exports has a panel.
  const charted = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => uses(t.expr).map((u) => u.family))));
  for (const family of known.keys()) expect(charted.has(family), `${family} has no panel`).toBe(true);
});

test("the alert rules parse, and the send lateness p99 rule reads send events' histogram", () => {
  const known = families(metrics);
  const rules = Bun.YAML.parse(readFileSync(join(CONTRIB, "prometheus-rules.yml"), "utf8")) as Rules;
  const all = rules.groups.flatMap((g) => g.rules);
  for (const r of all) {
    expect(r.alert).toMatch(/^Pacer\w+$/);
    expect(r.for ?? "").toMatch(/^\d+[smh]$/);
    checkExpr(`rule ${r.alert}`, r.expr, known);
  }
  const late = all.find((r) => r.alert === "PacerSendLate")!;
  expect(late.expr).toContain("histogram_quantile(0.99");
  expect(late.expr).toContain('pacer_lateness_microseconds_bucket{kind="send"}');
  expect(metrics).toMatch(/^pacer_lateness_microseconds_bucket\{kind="send",le="999"\} \d+$/m);
});
