/**
 * Registers the built-in outputs, and the sound card capture that `alsa:` inputs use. Importing this module is the one place the
 * core learns which backends exist; adding one is one line here.
 *
 * @example
 * ```ts
 * import "./backends/all.ts";
 * backendFor("cmd:aplay -"); // commandBackend
 * ```
 */
import { registerCaptureOpener } from "../sources/capture.ts";
import { alsaBackend } from "./alsa/alsa.ts";
import { openAlsaCapture } from "./alsa/capture.ts";
import { commandBackend } from "./command.ts";
import { fileBackend } from "./file.ts";
import { registerBackend } from "./registry.ts";
import { rtpBackend } from "./rtp/rtp.ts";
import { udpBackend } from "./udp.ts";

registerBackend(rtpBackend);
registerBackend(udpBackend);
registerBackend(alsaBackend);
registerBackend(commandBackend);
registerBackend(fileBackend);
// Inputs too: sources cannot import the ALSA bindings, so capture is handed to them here.
registerCaptureOpener(openAlsaCapture);
