/**
 * `--sdp FILE`: written before the first packet, atomically (a temporary
 * file in the same directory, then rename), so a receiver polling for the
 * file never reads half of it.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { PacerError } from "../foundation/errors.ts";
import { fsErrorText } from "../foundation/fs_error.ts";
import { buildSdp, type SdpMedia } from "../protocol/sdp.ts";

/** `media`: one m= section per rtp:// output (play refuses --sdp without one before opening any). */
export function writeSdpFile(path: string, media: SdpMedia[], origin = "127.0.0.1"): void {
  const text = buildSdp({ sessionId: Math.floor(Date.now() / 1000), origin, media });
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true }); // a rename refused (onto a folder) leaves it behind
    throw new PacerError(`--sdp ${path}: cannot write: ${fsErrorText(error)}`);
  }
}
