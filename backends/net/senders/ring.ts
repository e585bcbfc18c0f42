/**
 * The hand-over ring between the main thread and one sender thread: a SharedArrayBuffer of
 * fixed-size slots, one datagram each, written by the main thread's send events (one producer)
 * and sent by the thread (one consumer). A slot carries the datagram's destination (its id in the
 * thread), the time it is due, and where its bytes are:
 *
 * - **in place**: a short header in the slot (RTP's), and a reference to the stream's bytes in
 *   the job's shared read-ahead buffer (foundation/shared_bytes.ts; given to the thread once, by
 *   id), which the thread reads from there. Media crosses to the thread without a copy, and a slot is 64 bytes, so a ring of 16384
 *   costs 1 MiB, not the 32 MiB of slots that held whole datagrams.
 * - **inline**: the whole datagram copied into the ring's byte arena, for what does not lie in a
 *   read-ahead buffer (converted PCM, packets gathered around garbage, RTCP). The arena is taken
 *   in order, freed as slots are, and started again at its beginning whenever none is held, so it
 *   is touched only as far as such datagrams need it.
 *
 * The thread may send slots out of order (a unit due at once overtakes ones due later), so a slot
 * is freed by marking it sent, and the read index moves over the sent prefix. Neither side
 * allocates per datagram: both make their views once.
 *
 * @example
 * ```ts
 * const ring = makeSenderRing(4096);                        // main thread; ring.buffer goes to the thread
 * const slot = ring.claim();                                 // -1 when full
 * ring.publishInPlace(slot, id, rtpHeader, 12, mediaId, offset, position, 1316, dueUs, false);
 * const other = ring.claim();
 * const at = ring.inlineRoom(other, datagram.length);        // -1 when the arena is full
 * ring.bytes.set(datagram, at);
 * ring.publishInline(other, id, at, datagram.length, dueUs);
 * ```
 */

/** Bytes of a slot: due time, words, and a header of up to HEADER_ROOM bytes. */
const SLOT_BYTES = 64;
const HEADER_AT = 32;
/** The longest header a slot carries with an in-place datagram (RTP's is 12). */
export const HEADER_ROOM = SLOT_BYTES - HEADER_AT;
/**
 * The byte arena for inline datagrams: 16 MiB, 12,700 datagrams of a 1500-byte MTU (60 ms of
 * 1500 streams of 1.5 Mbit/s sent inline, three leads; in-place ones take none). It starts again
 * at its beginning whenever no inline datagram is held, so its pages are touched only as far as
 * the most inline datagrams held at once reach.
 */
export const INLINE_BYTES = 16 << 20;
/** The largest datagram sent inline: any of a 1500-byte MTU. A larger one stays on the main thread (pool.ts). */
export const INLINE_MAX = 2048;

/** Control words (Int32) at the head of the buffer. */
const WRITE = 0; // slots published, ever (wraps at 2^32, compared as differences)
const READ = 1; // slots freed, ever
const CAUGHT_UP = 2; // passes in which the thread sent everything then due, ever (wraps)
const CONTROL_BYTES = 64;

/** Word offsets within a slot (u32). */
const W_DESTINATION = 2;
const W_LENGTH = 3;
const W_HEADER = 4; // header length, and IN_PLACE
const W_OFFSET = 5; // in place: the stream offset (mod 2^32), to check the bytes are still held
const W_POSITION = 6; // in place: where the bytes sit in the read-ahead; inline: in the arena
const W_MEDIA = 7; // in place: which read-ahead buffer (its id in the thread)

/** The destination word's top bit: the slot begins a new stretch of its schedule. */
const MARKER = 0x80000000;
const IN_PLACE = 0x100;
/** An inline datagram that carries none of the stream (RTCP on its port): dropped, it is no lost stream bytes. */
const CONTROL = 0x200;

/** A slot's `length` when it asks for the destination to be closed (after its earlier slots). */
export const CLOSE_SLOT = 0xffffffff;

export interface SenderRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  /** The ring's bytes, where an inline datagram is written (at `inlineRoom`'s index). */
  readonly bytes: Buffer;
  /** A free slot's index, or -1 when the ring is full. */
  claim(): number;
  /** How many slots are free (claim returns -1 at none). */
  free(): number;
  /** How many passes the thread has ended with everything then due sent (it counts; the main thread times it). */
  catchUps(): number;
  /** Bytes the inline arena could take now, at least (a datagram never wraps its end, so one may need its length more). */
  inlineFree(): number;
  /** Room for an inline datagram of `length` bytes for the claimed `slot`: its index in `bytes`, or -1 when the arena is full. */
  inlineRoom(slot: number, length: number): number;
  /** Makes a claimed slot visible: a datagram of `length` bytes written at `at` in `bytes` (or CLOSE_SLOT). */
  publishInline(slot: number, destination: number, at: number, length: number, dueUs: number, marker?: boolean, media?: boolean): void;
  /**
   * Makes a claimed slot visible: `header`'s first `headerLength` bytes (at most HEADER_ROOM),
   * then `length` bytes of read-ahead buffer `media` (its id in the thread) from stream `offset`,
   * at `position` (on over the buffer's end to its start).
   */
  publishInPlace(slot: number, destination: number, header: Uint8Array | null, headerLength: number, media: number, offset: number, position: number, length: number, dueUs: number, marker: boolean): void;
}

/** The thread's side: read what was published, mark what was sent. */
export interface SenderRingReader {
  readonly slots: number;
  /** The ring's bytes: an inline datagram at `position`, an in-place one's header at `headerAt`. */
  readonly bytes: Buffer;
  /** Slots published and not yet taken by `take`, in order; calls `each` with each slot index. */
  take(each: (slot: number) => void): void;
  destination(slot: number): number;
  marker(slot: number): boolean;
  /** The whole datagram's length (header and media), or CLOSE_SLOT. */
  length(slot: number): number;
  due(slot: number): number;
  inPlace(slot: number): boolean;
  /** Inline: it carries none of the stream (published with `media` false). */
  control(slot: number): boolean;
  headerAt(slot: number): number;
  headerLength(slot: number): number;
  /** In place: which read-ahead buffer the media lies in. */
  media(slot: number): number;
  /** In place: the stream offset of the media (mod 2^32). */
  offset(slot: number): number;
  /** In place: the media's position in the read-ahead buffer; inline: the datagram's in `bytes`. */
  position(slot: number): number;
  /** Frees a slot once its datagram is staged (copied into the socket's batch). */
  release(slot: number): void;
  /** Says it has sent everything then due (the main thread holds datagrams back while this stops: pool.ts). */
  caughtUp(): void;
}

interface Views {
  control: Int32Array;
  words: Uint32Array;
  dues: Float64Array;
  bytes: Buffer;
}

const arenaAt = (slots: number) => CONTROL_BYTES + slots * SLOT_BYTES;

function views(buffer: SharedArrayBuffer, slots: number): Views {
  return {
    control: new Int32Array(buffer, 0, CONTROL_BYTES / 4),
    words: new Uint32Array(buffer, CONTROL_BYTES, (slots * SLOT_BYTES) / 4),
    dues: new Float64Array(buffer, CONTROL_BYTES, (slots * SLOT_BYTES) / 8),
    bytes: Buffer.from(buffer),
  };
}

/** The main thread's side of a new ring of `slots` slots. */
export function makeSenderRing(slots: number, inlineBytes = INLINE_BYTES): SenderRing {
  // Indices count up and wrap at 2^32, so the slot count must divide it.
  if (!Number.isInteger(Math.log2(slots))) throw new RangeError("a sender ring's slots must be a power of two");
  const buffer = new SharedArrayBuffer(arenaAt(slots) + inlineBytes);
  const { control, words, dues, bytes } = views(buffer, slots);
  // The slots are touched now, while destinations open: the first lap over fresh pages otherwise
  // page-faults every 64 slots on the main thread's sends. The arena is touched as it is used.
  bytes.fill(1, 0, arenaAt(slots)).fill(0, 0, arenaAt(slots));
  const arena = arenaAt(slots);
  let written = 0;
  /** Arena bytes taken, ever; and where each slot's share began (its start frees it). */
  let taken = 0;
  /** The count at which the arena last started again at its beginning. */
  let base = 0;
  const takenAt = new Float64Array(slots);
  const header = (slot: number) => (slot * SLOT_BYTES) >> 2;
  /** Arena bytes held: from where the oldest slot still held began (its takenAt); none held, none. */
  const inlineInUse = () => {
    const read = Atomics.load(control, READ);
    return read === written ? 0 : taken - takenAt[(read >>> 0) % slots]!;
  };
  const publish = (slot: number, destination: number, length: number, dueUs: number, marker: boolean) => {
    const word = header(slot);
    dues[word >> 1] = dueUs;
    words[word + W_DESTINATION] = (destination | (marker ? MARKER : 0)) >>> 0;
    words[word + W_LENGTH] = length;
    written = (written + 1) | 0;
    Atomics.store(control, WRITE, written);
  };
  return {
    buffer,
    slots,
    bytes,
    free: () => slots - ((written - Atomics.load(control, READ)) | 0),
    catchUps: () => Atomics.load(control, CAUGHT_UP),
    inlineFree: () => inlineBytes - inlineInUse(),
    claim() {
      if (((written - Atomics.load(control, READ)) | 0) >= slots) return -1;
      const slot = (written >>> 0) % slots;
      takenAt[slot] = taken; // a slot without inline bytes frees none
      return slot;
    },
    inlineRoom(slot, length) {
      const inUse = inlineInUse();
      // Nothing inline held: start again at the beginning, so a trickle (RTCP) never walks the whole arena.
      if (inUse === 0) base = taken;
      let start = (taken - base) % inlineBytes;
      let skip = 0;
      if (start + length > inlineBytes) {
        skip = inlineBytes - start; // a datagram is never split over the arena's end
        start = 0;
      }
      if (inUse + skip + length > inlineBytes) return -1;
      takenAt[slot] = taken;
      taken += skip + length;
      return arena + start;
    },
    publishInline(slot, destination, at, length, dueUs, marker = false, media = true) {
      const word = header(slot);
      words[word + W_HEADER] = media ? 0 : CONTROL;
      words[word + W_POSITION] = at;
      publish(slot, destination, length, dueUs, marker);
    },
    publishInPlace(slot, destination, head, headerLength, media, offset, position, length, dueUs, marker) {
      const word = header(slot);
      // A few bytes, copied one by one: a subarray for set() would allocate per datagram.
      const at = CONTROL_BYTES + slot * SLOT_BYTES + HEADER_AT;
      for (let i = 0; i < headerLength; i++) bytes[at + i] = head![i]!;
      words[word + W_HEADER] = headerLength | IN_PLACE;
      words[word + W_MEDIA] = media;
      words[word + W_OFFSET] = offset >>> 0;
      words[word + W_POSITION] = position;
      publish(slot, destination, headerLength + length, dueUs, marker);
    },
  };
}

/** The thread's side of the ring made by makeSenderRing. */
export function readSenderRing(buffer: SharedArrayBuffer, slots: number): SenderRingReader {
  const { control, words, dues, bytes } = views(buffer, slots);
  const sent = new Uint8Array(slots);
  let taken = 0;
  let freed = 0;
  const word = (slot: number) => (slot * SLOT_BYTES) >> 2;
  return {
    slots,
    bytes,
    take(each) {
      const published = Atomics.load(control, WRITE);
      while (taken !== published) {
        each((taken >>> 0) % slots);
        taken = (taken + 1) | 0;
      }
    },
    destination: (slot) => words[word(slot) + W_DESTINATION]! & ~MARKER,
    marker: (slot) => (words[word(slot) + W_DESTINATION]! & MARKER) !== 0,
    length: (slot) => words[word(slot) + W_LENGTH]!,
    due: (slot) => dues[word(slot) >> 1]!,
    inPlace: (slot) => (words[word(slot) + W_HEADER]! & IN_PLACE) !== 0,
    control: (slot) => (words[word(slot) + W_HEADER]! & CONTROL) !== 0,
    headerAt: (slot) => CONTROL_BYTES + slot * SLOT_BYTES + HEADER_AT,
    headerLength: (slot) => words[word(slot) + W_HEADER]! & 0xff,
    media: (slot) => words[word(slot) + W_MEDIA]!,
    offset: (slot) => words[word(slot) + W_OFFSET]!,
    position: (slot) => words[word(slot) + W_POSITION]!,
    release(slot) {
      sent[slot] = 1;
      let index = (freed >>> 0) % slots;
      if (index !== slot) return;
      while (freed !== taken && sent[index] === 1) {
        sent[index] = 0;
        freed = (freed + 1) | 0;
        index = (freed >>> 0) % slots;
      }
      Atomics.store(control, READ, freed);
    },
    caughtUp() {
      Atomics.add(control, CAUGHT_UP, 1);
    },
  };
}
