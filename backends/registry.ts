/**
 * Backends by URL scheme. The core looks outputs up here and never imports
 * a backend module itself; backends/all.ts registers the built-in ones.
 *
 * @example
 * ```ts
 * registerBackend(rtpBackend);
 * const factory = backendFor("rtp://127.0.0.1:5004"); // rtpBackend
 * ```
 */
import { UsageError } from "../foundation/errors.ts";
import type { BackendFactory } from "./backend.ts";

const factories = new Map<string, BackendFactory>();

export function registerBackend(factory: BackendFactory): void {
  factories.set(factory.scheme, factory);
}

/** The scheme of an output URL: the text before the first colon. */
export function schemeOf(target: string): string {
  const colon = target.indexOf(":");
  return colon > 0 ? target.slice(0, colon).toLowerCase() : "";
}

/** The factory for `target`; a UsageError (exit 2) for an unknown scheme. */
export function backendFor(target: string): BackendFactory {
  const scheme = schemeOf(target);
  const factory = factories.get(scheme);
  if (!factory) {
    const known = [...factories.keys()].map((s) => `${s}:`).join(", ");
    throw new UsageError(`unknown output "${target}": scheme must be one of ${known}`);
  }
  return factory;
}

export function registeredBackends(): BackendFactory[] {
  return [...factories.values()];
}
