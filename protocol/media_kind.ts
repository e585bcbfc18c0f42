/** What a stream carries: it decides payload types, pacing and packet sizes. */
export type MediaKind = "pcm" | "mpegts" | "mpegps" | "data";
