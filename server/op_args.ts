/**
 * Reading a control request's `args` safely. Everything in `args` comes from the network, so every
 * reader checks its type and bounds and throws OpError, which the dispatcher turns into an error
 * reply with the error's code (DESIGN.md, "Control protocol").
 *
 * @example
 * ```ts
 * checkKeys(req.args, ["job"]);
 * const id = requireString(req.args, "job", 32); // throws OpError("bad_request", …) if absent
 * ```
 */

import type { ErrorCode } from "../protocol/control.ts";

/** An op that fails with a protocol error code; the message says what to change. */
export class OpError extends Error {
  override name = "OpError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Args = Readonly<Record<string, unknown>>;

/** Unknown keys are bad requests, so a client's typo never silently becomes a default. */
export function checkKeys(args: Args, allowed: readonly string[]): void {
  for (const key of Object.keys(args)) {
    if (!allowed.includes(key)) {
      const known = allowed.length ? allowed.join(", ") : "none";
      throw new OpError("bad_request", `unknown argument "${key.slice(0, 32)}" (known: ${known})`);
    }
  }
}

export function optionalString(args: Args, key: string, maxLength: number): string | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > maxLength) {
    throw new OpError("bad_request", `"${key}" must be a string of 1 to ${maxLength} characters`);
  }
  return value;
}

export function requireString(args: Args, key: string, maxLength: number): string {
  const value = optionalString(args, key, maxLength);
  if (value === undefined) throw new OpError("bad_request", `"${key}" is required`);
  return value;
}

export function optionalBoolean(args: Args, key: string): boolean | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw new OpError("bad_request", `"${key}" must be true or false`);
  return value;
}

/** A finite number within [min, max]; `integer` also refuses fractions. */
export function optionalNumber(args: Args, key: string, min: number, max: number, integer = false): number | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new OpError("bad_request", `"${key}" must be a ${integer ? "whole " : ""}number from ${min} to ${max}`);
  }
  return value;
}

/** A list of 1 to `maxItems` strings, each at most `maxLength` characters. */
export function requireStringList(args: Args, key: string, maxItems: number, maxLength: number): string[] {
  const value = args[key];
  if (!Array.isArray(value) || value.length === 0) throw new OpError("bad_request", `"${key}" must be a non-empty list`);
  if (value.length > maxItems) throw new OpError("limit", `"${key}" has ${value.length} entries; the limit is ${maxItems}`);
  for (const item of value) {
    if (typeof item !== "string" || item.length === 0 || item.length > maxLength) {
      throw new OpError("bad_request", `every "${key}" entry must be a string of 1 to ${maxLength} characters`);
    }
  }
  return value as string[];
}

/** Paging arguments of `status` and `list`: `offset` from 0, `limit` from 1 to maxLimit. */
export function pageArgs(args: Args, maxLimit: number): { offset: number; limit: number } {
  const offset = optionalNumber(args, "offset", 0, Number.MAX_SAFE_INTEGER, true) ?? 0;
  const limit = optionalNumber(args, "limit", 1, maxLimit, true) ?? maxLimit;
  return { offset, limit };
}
