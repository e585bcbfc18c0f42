/**
 * SendPacing blocks for this thread's destinations, many to a buffer: the views a send counts
 * through are then a few objects that every destination shares, and stay in cache, where a view
 * pair of each destination's own were two more cold objects at each of a server's thousand
 * destinations' sends (docs/scale.md). A block goes back for reuse once its SendPacing is
 * collected: a finished job's figures stay readable for as long as anything holds them.
 *
 * @example
 * ```ts
 * const pacing = takeSendPacing(); // zeroed, like new SendPacing()
 * pacing.record(1000, 1000);
 * ```
 */
import { type PacingMemory, SendPacing } from "./send_pacing.ts";

/** Blocks per buffer: 64 of about 4 KiB. */
const BLOCKS_PER_BUFFER = 64;

interface Block {
  readonly memory: PacingMemory;
  readonly at: number;
}

const free: Block[] = [];
const returned = new FinalizationRegistry<Block>((block) => free.push(block));

function addBuffer(): void {
  const buffer = new ArrayBuffer(BLOCKS_PER_BUFFER * SendPacing.BYTES);
  const memory = { doubles: new Float64Array(buffer), buckets: new Uint32Array(buffer) };
  // Handed out from the start of the buffer.
  for (let i = BLOCKS_PER_BUFFER - 1; i >= 0; i--) free.push({ memory, at: i * SendPacing.BYTES });
}

/** A SendPacing in a shared buffer, as new and zeroed as `new SendPacing()`. */
export function takeSendPacing(): SendPacing {
  if (free.length === 0) addBuffer();
  const block = free.pop()!;
  new Uint8Array(block.memory.doubles.buffer, block.at, SendPacing.BYTES).fill(0);
  const pacing = new SendPacing(block.memory, block.at);
  returned.register(pacing, block);
  return pacing;
}
