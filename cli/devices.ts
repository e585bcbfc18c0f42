import type { Logger } from "./log.ts";
export function runDevices(_log: Logger): number {
  process.stderr.write("pacer: error: devices is not yet available\n");
  return 1;
}
