/**
 * Which key handshake a newcomer takes the slot of, on a clock of its own: the address holding
 * most, never its own, never one younger than the grace.
 */
import { expect, test } from "bun:test";
import { HANDSHAKE_GRACE_MS, type HandshakeSlot, HandshakeSlots, MAX_HANDSHAKES } from "../../server/live/handshake_slots.ts";

interface Slot extends HandshakeSlot {
  name: string;
}

function slotsOf(...taken: [name: string, key: string, since: number][]): HandshakeSlots<Slot> {
  const slots = new HandshakeSlots<Slot>();
  for (const [name, key, since] of taken) slots.add({ name, key, since });
  return slots;
}

test("two addresses of silent clients, each back the moment it is crowded out, never take the source's slot", () => {
  // Each reconnect comes a grace later (a loaded host): every slot, the source's too, is old enough.
  let now = 0;
  const slots = slotsOf(["a1", "10.0.0.2", now++], ["a2", "10.0.0.2", now++], ["b1", "10.0.0.3", now++], ["b2", "10.0.0.3", now++]);
  now += HANDSHAKE_GRACE_MS;
  let newcomer: Slot = { name: "source", key: "10.0.0.1", since: now };
  const crowded: string[] = [];
  for (let i = 0; i < 100; i++) {
    expect(slots.full).toBe(true);
    const victim = slots.victimFor(newcomer.key, now)!;
    crowded.push(victim.name);
    slots.delete(victim);
    slots.add(newcomer);
    now += HANDSHAKE_GRACE_MS;
    newcomer = { name: `${victim.name}'`, key: victim.key, since: now };
  }
  expect(crowded).not.toContain("source");
  // Taking the oldest slot of another address took the source's on the fourth reconnect.
  expect(crowded.slice(0, 4)).toEqual(["a1", "b1", "a2", "b2"]);
});

test("a slot younger than the grace is kept; with none older, the newcomer is told busy", () => {
  const slots = slotsOf(["old", "10.0.0.2", 0], ["young1", "10.0.0.3", 900], ["young2", "10.0.0.4", 900], ["young3", "10.0.0.5", 900]);
  expect(slots.victimFor("10.0.0.9", 1_000)?.name).toBe("old");
  slots.delete(slots.victimFor("10.0.0.9", 1_000)!);
  slots.add({ name: "new", key: "10.0.0.9", since: 1_000 });
  expect(slots.victimFor("10.0.0.8", 900 + HANDSHAKE_GRACE_MS - 1)).toBeNull();
  expect(slots.victimFor("10.0.0.8", 900 + HANDSHAKE_GRACE_MS)?.name).toBe("young1");
});

test("four addresses churning cannot take a source's slot within its grace", () => {
  let now = 0;
  const slots = slotsOf(["a", "10.0.0.2", now], ["b", "10.0.0.3", now], ["c", "10.0.0.4", now], ["d", "10.0.0.5", now]);
  now = 10_000;
  slots.delete(slots.victimFor("10.0.0.1", now)!);
  slots.add({ name: "source", key: "10.0.0.1", since: now });
  // The crowded-out ones come back a millisecond apart, for the whole grace.
  let taken = 0;
  for (let at = now + 1; at < now + HANDSHAKE_GRACE_MS; at++) {
    const victim = slots.victimFor(`10.0.0.${2 + (at % 4)}`, at);
    if (!victim) continue;
    expect(victim.name).not.toBe("source");
    slots.delete(victim);
    slots.add({ name: victim.name, key: victim.key, since: at });
    taken++;
  }
  expect(taken).toBeGreaterThan(0); // they did churn: slots changed hands, never the source's
  expect(slots.victimFor("10.0.0.9", now + HANDSHAKE_GRACE_MS + 1)).not.toBeNull();
});

test("a newcomer never takes a slot of its own address; of addresses holding as many, the oldest slot goes", () => {
  const slots = slotsOf(["x1", "10.0.0.2", 0], ["y1", "10.0.0.3", 1], ["x2", "10.0.0.2", 2], ["y2", "10.0.0.3", 3]);
  expect(slots.full).toBe(true);
  expect(slots.victimFor("10.0.0.2", 10_000)?.name).toBe("y1");
  expect(slots.victimFor("10.0.0.3", 10_000)?.name).toBe("x1");
  expect(slots.victimFor("10.0.0.4", 10_000)?.name).toBe("x1");
  const own = slotsOf(...Array.from({ length: MAX_HANDSHAKES }, (_, i): [string, string, number] => [`z${i}`, "10.0.0.7", i]));
  expect(own.victimFor("10.0.0.7", 10_000)).toBeNull();
});
