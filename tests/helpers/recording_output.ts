/**
 * A stand-in output for pipeline tests, registered under its own scheme: it takes each unit it
 * is offered whole and keeps its bytes and due time, in order. `leadUs` makes it one that takes
 * units that long before they are due, as a sender thread does.
 *
 * @example
 * ```ts
 * const taken = recordingOutput("keep-units", { unitBytes: 1316 });
 * // … Job.create({ outputs: ["keep-units:"], … }) …
 * taken.map((t) => t.dueUs);
 * ```
 */
import { type Backend, newCounters } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";

export interface TakenUnit {
  dueUs: number;
  bytes: Buffer;
}

export function recordingOutput(scheme: string, options: { unitBytes: number; leadUs?: number }): TakenUnit[] {
  const taken: TakenUnit[] = [];
  registerBackend({
    scheme,
    summary: `${scheme}:  a stand-in output for tests`,
    async create(target: string): Promise<Backend> {
      return {
        label: target,
        unitBytes: options.unitBytes,
        aheadUs: 0,
        leadUs: options.leadUs,
        counters: newCounters(),
        send(unit, timing) {
          taken.push({ dueUs: timing.dueUs, bytes: Buffer.from(unit) });
          return unit.length;
        },
        async close() {},
      };
    },
  });
  return taken;
}
