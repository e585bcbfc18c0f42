/**
 * The hand-over ring between the main thread and one sender thread: a SharedArrayBuffer of
 * fixed-size slots, one datagram each, written by the main thread's send events (one producer)
 * and sent by the thread (one consumer). A slot carries the datagram, its destination's id in the
 * thread and the time it is due. Fixed slots let both sides make one view per slot up front, so
 * neither allocates per datagram; a datagram larger than a slot is not handed over
 * (SLOT_PAYLOAD: any 1500-byte-MTU datagram fits).
 *
 * The thread may send slots out of order (a unit due at once overtakes ones due later), so a slot
 * is freed by marking it sent, and the read index moves over the sent prefix.
 *
 * @example
 * ```ts
 * const ring = makeSenderRing(4096);          // main thread; ring.buffer goes to the thread
 * const slot = ring.claim();                   // -1 when full
 * ring.payloads[slot]!.set(datagram);
 * ring.publish(slot, destinationId, datagram.length, dueUs);
 * ```
 */

/** Bytes of a slot: its header and payload. */
export const SLOT_BYTES = 2048;
const HEADER_BYTES = 16;
/** The largest datagram a slot carries: more than a 1500-byte MTU's 1472 of UDP payload. */
export const SLOT_PAYLOAD = SLOT_BYTES - HEADER_BYTES;

/** Control words (Int32) at the head of the buffer. */
const WRITE = 0; // slots published, ever (wraps at 2^32, compared as differences)
const READ = 1; // slots freed, ever
const CONTROL_BYTES = 64;

/** The destination word's top bit: the slot begins a new stretch of its schedule. */
const MARKER = 0x80000000;

/** A slot's `length` when it asks for the destination to be closed (after its earlier slots). */
export const CLOSE_SLOT = 0xffffffff;

export interface SenderRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  /** One view of each slot's payload, made once. */
  readonly payloads: readonly Uint8Array[];
  /** A free slot's index, or -1 when the ring is full. */
  claim(): number;
  /** Makes a claimed slot visible to the thread; `marker`: a new stretch of the schedule begins. */
  publish(slot: number, destination: number, length: number, dueUs: number, marker?: boolean): void;
}

/** The thread's side: read what was published, mark what was sent. */
export interface SenderRingReader {
  readonly slots: number;
  readonly payloads: readonly Uint8Array[];
  /** Slots published and not yet taken by `take`, in order; calls `each` with each slot index. */
  take(each: (slot: number) => void): void;
  destination(slot: number): number;
  marker(slot: number): boolean;
  length(slot: number): number;
  due(slot: number): number;
  /** Frees a slot once its datagram is staged (copied into the socket's batch). */
  release(slot: number): void;
}

interface Views {
  control: Int32Array;
  words: Uint32Array;
  dues: Float64Array;
  payloads: Uint8Array[];
}

function views(buffer: SharedArrayBuffer, slots: number): Views {
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < slots; i++) payloads.push(new Uint8Array(buffer, CONTROL_BYTES + i * SLOT_BYTES + HEADER_BYTES, SLOT_PAYLOAD));
  return {
    control: new Int32Array(buffer, 0, CONTROL_BYTES / 4),
    words: new Uint32Array(buffer, CONTROL_BYTES),
    dues: new Float64Array(buffer, CONTROL_BYTES),
    payloads,
  };
}

/** The main thread's side of a new ring of `slots` slots. */
export function makeSenderRing(slots: number): SenderRing {
  // Indices count up and wrap at 2^32, so the slot count must divide it.
  if (!Number.isInteger(Math.log2(slots))) throw new RangeError("a sender ring's slots must be a power of two");
  const buffer = new SharedArrayBuffer(CONTROL_BYTES + slots * SLOT_BYTES);
  // Touched now, while destinations open: the first lap over fresh pages otherwise page-faults
  // on every 4 KiB, and at 500 streams that held the main thread's sends back 30 ms (measured).
  new Uint8Array(buffer).fill(1).fill(0);
  const { control, words, dues, payloads } = views(buffer, slots);
  let written = 0;
  return {
    buffer,
    slots,
    payloads,
    claim() {
      if (((written - Atomics.load(control, READ)) | 0) >= slots) return -1;
      return (written >>> 0) % slots;
    },
    publish(slot, destination, length, dueUs, marker = false) {
      const word = (slot * SLOT_BYTES) >> 2;
      dues[(slot * SLOT_BYTES) >> 3] = dueUs;
      words[word + 2] = (destination | (marker ? MARKER : 0)) >>> 0;
      words[word + 3] = length;
      written = (written + 1) | 0;
      Atomics.store(control, WRITE, written);
    },
  };
}

/** The thread's side of the ring made by makeSenderRing. */
export function readSenderRing(buffer: SharedArrayBuffer): SenderRingReader {
  const slots = (buffer.byteLength - CONTROL_BYTES) / SLOT_BYTES;
  const { control, words, dues, payloads } = views(buffer, slots);
  const sent = new Uint8Array(slots);
  let taken = 0;
  let freed = 0;
  return {
    slots,
    payloads,
    take(each) {
      const published = Atomics.load(control, WRITE);
      while (taken !== published) {
        each((taken >>> 0) % slots);
        taken = (taken + 1) | 0;
      }
    },
    destination: (slot) => words[((slot * SLOT_BYTES) >> 2) + 2]! & ~MARKER,
    marker: (slot) => (words[((slot * SLOT_BYTES) >> 2) + 2]! & MARKER) !== 0,
    length: (slot) => words[((slot * SLOT_BYTES) >> 2) + 3]!,
    due: (slot) => dues[(slot * SLOT_BYTES) >> 3]!,
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
  };
}
