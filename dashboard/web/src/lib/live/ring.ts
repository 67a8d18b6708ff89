/** A bounded list whose snapshot (a frozen copy) is made at most once per change, and only when read. */
export class Ring<T> {
  private items: T[] = [];
  private copy: readonly T[] = [];
  private stale = false;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length;
  }

  last(): T | undefined {
    return this.items[this.items.length - 1];
  }

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    this.stale = true;
  }

  /** Replace everything with `items` (already ordered), keeping the newest `capacity`. */
  reset(items: T[]): void {
    this.items = items.slice(-this.capacity);
    this.stale = true;
  }

  /** Drop items from the front while `old(item)` holds. */
  dropWhile(old: (item: T) => boolean): void {
    let n = 0;
    while (n < this.items.length && old(this.items[n]!)) n++;
    if (n) {
      this.items.splice(0, n);
      this.stale = true;
    }
  }

  toArray(): T[] {
    return this.items.slice();
  }

  snapshot(): readonly T[] {
    if (this.stale) {
      this.copy = Object.freeze(this.items.slice());
      this.stale = false;
    }
    return this.copy;
  }
}
