/**
 * Paged results for `status` and `list` (DESIGN.md: replies are one datagram of at most 1400
 * bytes, paged with `offset` and `limit`, returning `next`). A page holds as many items from
 * `offset` as fit the reply budget — MAX_DATAGRAM, or the request's own size for an unauthenticated
 * requester (anti-reflection) — and `next` is the offset of the first item left out, or null.
 *
 * @example
 * ```ts
 * const result = fitPage(jobs, { offset: 0, limit: 50 }, budget, (items, next) => ({ jobs: items, offset: 0, next }), (r) => encodeReply(okReply(id, r)).length);
 * ```
 */

/**
 * What a page is cut from: an array, or a view that builds items on demand (status builds only the
 * jobs on the page, not all of them).
 */
export interface ItemsView<T> {
  readonly length: number;
  at(index: number): T | undefined;
}

export interface PageRequest {
  readonly offset: number;
  readonly limit: number;
}

/**
 * Builds the largest page that fits `budget` bytes as measured by `sizeOf`. An item too big for a
 * page on its own is replaced by `compact(item)` if that fits, else skipped (`next` moves past it),
 * so paging always makes progress. `largest` is the most any request could be given (MAX_DATAGRAM,
 * where `budget` is the smaller size of an unauthenticated request): an item that fits it but not
 * the budget is kept, and the page goes over the budget, so that the reply says how far to pad
 * (protocol/control.ts replyFor) instead of leaving the item out unsaid.
 */
export function fitPage<T, R>(
  all: ItemsView<T>,
  page: PageRequest,
  budget: number,
  build: (items: readonly unknown[], next: number | null) => R,
  sizeOf: (result: R) => number,
  compact: (item: T) => unknown = (item) => item,
  largest = budget,
): R {
  const end = Math.min(all.length, page.offset + page.limit);
  const items: unknown[] = [];
  let index = page.offset;
  for (; index < end; index++) {
    const item = all.at(index)!;
    const next = index + 1 < all.length ? index + 1 : null;
    items.push(item);
    if (sizeOf(build(items, next)) <= budget) continue;
    items.pop();
    if (items.length > 0) break; // the page is full
    items.push(compact(item));
    const size = sizeOf(build(items, next));
    if (size > largest) {
      items.pop();
      return build(items, next); // even the compact form is too big for any datagram: skip it
    }
    if (size > budget) return build(items, next); // a padded request would get it: the reply says how far
    index++;
    break;
  }
  return build(items, index < all.length ? index : null);
}
