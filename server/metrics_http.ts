/**
 * The optional HTTP endpoint of `pacer serve` (config `http = "HOST:PORT"`): `GET /metrics` in the
 * Prometheus text format (0.0.4) and `GET /status` as JSON. Read-only; anything else is 404.
 * Bind it to loopback or a management network: it has no authentication.
 *
 * It runs on the thread that runs the sends, so it is bounded there: each body is rendered at most
 * once per BODY_MAX_AGE_MS (rendered_body.ts), requests beyond a source's share are answered 429 and
 * beyond everyone's 503 (http_admission.ts), an idle connection is closed after IDLE_TIMEOUT_S,
 * one whose request has a body (BODY_REFUSAL) or is not a GET at once, and connections beyond
 * MAX_CONNECTIONS (or MAX_CONNECTIONS_PER_SOURCE from one source) as they come.
 *
 * @example
 * ```ts
 * const http = startMetricsHttp({ host: "127.0.0.1", port: 9090 }, server);
 * // curl 127.0.0.1:9090/metrics
 * http.stop();
 * ```
 */

import { HttpAdmission, type HttpRefusal } from "./http_admission.ts";
import { type HttpAnswer, type HttpListener, listenHttp } from "./http_listener.ts";
import { jobStatus, statusHeader } from "./ops.ts";
import { bindFailure } from "./port_holder.ts";
import { LineParts, RenderedBody } from "./rendered_body.ts";
import type { ServerContext } from "./server_context.ts";

/**
 * How stale a served body may be. A scrape every 15 s or a dashboard every second sees at most 1 s
 * old figures, and however fast clients poll, each body is rendered at most once a second.
 */
const BODY_MAX_AGE_MS = 1_000;
/** A connection that sends no request for this long is closed, so idle ones do not pile up. */
const IDLE_TIMEOUT_S = 5;

const METRICS_HEADERS = { "content-type": "text/plain; version=0.0.4" };
const JSON_HEADERS = { "content-type": "application/json;charset=utf-8" };
const TEXT_HEADERS = { "content-type": "text/plain;charset=utf-8" };
/** Refusals are canned; the client must reconnect, and is told when to try again. */
const REFUSALS: Record<HttpRefusal, HttpAnswer> = {
  rate_limited: { status: 429, headers: { ...TEXT_HEADERS, "retry-after": "1" }, body: "too many requests from your address\n", close: true },
  overloaded: { status: 503, headers: { ...TEXT_HEADERS, "retry-after": "1" }, body: "too many requests\n", close: true },
};
/**
 * Connections open at once, and from one source (http_listener.ts closes one beyond as it comes).
 * Prometheus and a few dashboards need a handful; 15 at once from each of 12 addresses is the load
 * test's burst. Bun.serve had no bound: 500 connections held open against a limit of 400
 * descriptors made plays fail (`EMFILE`) and Bun spin on `accept` at a whole core.
 */
const MAX_CONNECTIONS = 256;
const MAX_CONNECTIONS_PER_SOURCE = 32;

/**
 * A GET's body, which nothing here reads: answered, and the connection closed (http_listener.ts).
 * Bun.serve read such a body to its end, and a chunked one never ends; one client sending junk
 * that way at loopback speed held half a core of the thread that sends, as a single request.
 */
const BODY_REFUSAL: HttpAnswer = { status: 400, headers: TEXT_HEADERS, body: "a GET carries no body\n", close: true };

export type MetricsHttp = HttpListener;

/** Starts the HTTP endpoint; throws port_holder.ts bindFailure if the address cannot be bound. */
export function startMetricsHttp(at: { readonly host: string; readonly port: number }, server: ServerContext): MetricsHttp {
  try {
    return serveHttp(at, server);
  } catch (error) {
    throw bindFailure("HTTP endpoint", "http", "tcp", at, error);
  }
}

function serveHttp(at: { readonly host: string; readonly port: number }, server: ServerContext): HttpListener {
  const admission = new HttpAdmission();
  const metrics = new RenderedBody(() => metricsText(server, admission.refused), BODY_MAX_AGE_MS);
  const status = new RenderedBody(() => statusJson(server), BODY_MAX_AGE_MS);
  const shape = { host: at.host, port: at.port, maxConnections: MAX_CONNECTIONS, maxPerSource: MAX_CONNECTIONS_PER_SOURCE, idleTimeoutS: IDLE_TIMEOUT_S };
  return listenHttp(shape, (request): HttpAnswer | Promise<HttpAnswer> => {
    const now = performance.now();
    // Before anything else is read of the request: junk counts against the share too.
    const refusal = admission.refusal(request.address, now);
    if (refusal) return REFUSALS[refusal];
    if (request.method !== "GET") return { status: 405, headers: TEXT_HEADERS, body: "only GET\n", close: true };
    if (request.hasBody) return BODY_REFUSAL;
    if (request.path === null) return { status: 400, headers: TEXT_HEADERS, body: "bad request: malformed Host header\n" };
    if (request.path === "/metrics") return metrics.bytes(now).then((body) => ({ status: 200, headers: METRICS_HEADERS, body }));
    if (request.path === "/status") return status.bytes(now).then((body) => ({ status: 200, headers: JSON_HEADERS, body }));
    return { status: 404, headers: TEXT_HEADERS, body: "not found: try /metrics or /status\n" };
  });
}

/**
 * Edges of the exported lateness buckets, in µs: fine around the 0.2–0.5 ms pacing targets, coarse
 * beyond. Each is an edge of the scheduler's own histogram, which counts the values below it
 * exactly; lateness is whole µs, so "below 150" is "at most 149", and the bucket is exported as
 * `le="149"` to keep Prometheus's meaning of `le` (≤). A histogram rather than a summary, so rates
 * over any window can be taken from two scrapes.
 */
export const LATENESS_BUCKET_EDGES_US = [10, 25, 50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1536, 2048, 3072, 5120, 10240, 20480, 51200, 102400, 1048576] as const;

/** Label values escaped as the text format asks. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `/status`: the status op's header, then every running job; yields after each job (RenderedBody). */
function* statusJson(server: ServerContext): Generator<void, string[], void> {
  const head = JSON.stringify(statusHeader(server));
  const parts = [`${head.slice(0, -1)},"jobs":[`];
  let jobs: string[] = [];
  for (const served of server.jobs.running()) {
    jobs.push(JSON.stringify(jobStatus(server, served)));
    if (jobs.length === JOBS_PER_PART) {
      parts.push((parts.length > 1 ? "," : "") + jobs.join(","));
      jobs = [];
    }
    yield;
  }
  if (jobs.length > 0) parts.push((parts.length > 1 ? "," : "") + jobs.join(","));
  parts.push("]}");
  return parts;
}

/** Jobs' JSON joined into one part of /status. */
const JOBS_PER_PART = 50;

/**
 * The Prometheus exposition of the server's counters, and of the HTTP requests refused so far;
 * yields after each job (RenderedBody). Counters stay monotonic across a render that jobs end
 * during: the finished jobs' totals are read before the running jobs', whose own counters still
 * hold what they sent after they end.
 */
export function* metricsText(server: ServerContext, httpRefused: Readonly<Record<HttpRefusal, number>>): Generator<void, string[], void> {
  const out = new LineParts();
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const { jobs, counters } = server;
  const running = jobs.running();
  let units = jobs.sentByFinished.units;
  let bytes = jobs.sentByFinished.bytes;
  const errors: Record<string, number> = { ...jobs.sentByFinished.errors };
  for (const served of running) {
    for (const d of served.job.destinations) {
      units += d.backend.counters.units;
      bytes += d.backend.counters.bytes;
      for (const [kind, n] of Object.entries(d.backend.counters.errors)) errors[kind] = (errors[kind] ?? 0) + n;
    }
    yield;
  }
  metric("pacer_streams", "gauge", "Jobs running now.", [["", jobs.size]]);
  metric("pacer_jobs_total", "counter", "Jobs by how they ended (started counts every start).",
    Object.entries(jobs.totals).map(([end, n]) => [`{end="${end}"}`, n]));
  metric("pacer_packets_total", "counter", "Units (datagrams, writes) sent over all destinations.", [["", units]]);
  metric("pacer_bytes_total", "counter", "Media bytes sent over all destinations.", [["", bytes]]);
  metric("pacer_destination_errors_total", "counter", "Non-fatal destination errors by kind.",
    Object.entries(errors).map(([kind, n]) => [`{kind="${label(kind)}"}`, n]));
  out.push("# HELP pacer_lateness_microseconds How late timed events fired, by event kind.", "# TYPE pacer_lateness_microseconds histogram");
  for (const [kind, h] of server.scheduler.latenessKinds()) {
    const k = label(kind);
    const below = h.countsBelow(LATENESS_BUCKET_EDGES_US);
    LATENESS_BUCKET_EDGES_US.forEach((edge, i) => out.push(`pacer_lateness_microseconds_bucket{kind="${k}",le="${edge - 1}"} ${below[i]}`));
    out.push(`pacer_lateness_microseconds_bucket{kind="${k}",le="+Inf"} ${h.count}`);
    out.push(`pacer_lateness_microseconds_sum{kind="${k}"} ${h.sum}`, `pacer_lateness_microseconds_count{kind="${k}"} ${h.count}`);
  }
  // Each destination's own view of its pacing (scheduler/send_pacing.ts), by job and destination.
  const gaps = new LineParts();
  const bursts = new LineParts();
  const accuracy = new LineParts();
  gaps.push("# HELP pacer_send_gap_microseconds Gaps between a destination's sends, as it measured them (quantile 1 is the largest).", "# TYPE pacer_send_gap_microseconds gauge");
  bursts.push("# HELP pacer_send_burst_max The most datagrams a destination sent within any 1 ms.", "# TYPE pacer_send_burst_max gauge");
  accuracy.push(
    "# HELP pacer_send_accuracy_microseconds How far a destination's sends were from their due time on the stream's clock (the PCR line for TS; quantile 1 is the largest).",
    "# TYPE pacer_send_accuracy_microseconds gauge",
  );
  for (const served of running) {
    for (const d of served.job.destinations) {
      const at = `job="${label(served.id)}",to="${label(d.label)}"`;
      const p = d.pacing;
      gaps.push(`pacer_send_gap_microseconds{${at},quantile="0.5"} ${p.gapQuantile(0.5)}`, `pacer_send_gap_microseconds{${at},quantile="0.99"} ${p.gapQuantile(0.99)}`, `pacer_send_gap_microseconds{${at},quantile="1"} ${p.maxGapUs}`);
      bursts.push(`pacer_send_burst_max{${at}} ${p.largestBurst}`);
      accuracy.push(
        `pacer_send_accuracy_microseconds{${at},quantile="0.5"} ${p.accuracy.quantile(0.5)}`,
        `pacer_send_accuracy_microseconds{${at},quantile="0.99"} ${p.accuracy.quantile(0.99)}`,
        `pacer_send_accuracy_microseconds{${at},quantile="1"} ${p.accuracy.max}`,
      );
    }
    yield;
  }
  out.append(gaps);
  out.append(bursts);
  out.append(accuracy);
  metric("pacer_control_requests_total", "counter", "Control datagrams received.", [["", counters.requests]]);
  metric("pacer_control_dropped_total", "counter", "Control datagrams dropped without a reply, by reason.", [
    ...Object.entries(counters.dropped).map(([reason, n]): [string, number] => [`{reason="${reason}"}`, n]),
    [`{reason="rate_limited"}`, counters.rate_limited],
    [`{reason="overloaded"}`, counters.overloaded],
  ]);
  metric("pacer_control_errors_total", "counter", "Control error replies by code.",
    Object.entries(counters.errors).map(([code, n]) => [`{code="${code}"}`, n ?? 0]));
  metric("pacer_http_refused_total", "counter", "HTTP requests refused: over their source's share (429) or everyone's (503).",
    Object.entries(httpRefused).map(([reason, n]) => [`{reason="${reason}"}`, n]));
  return out.parts();
}
