/**
 * Fleet-wide DHCP steps per second over the last minutes: what makes a boot storm visible while
 * it happens. Counts are bucketed by the second the message arrived (the browser's clock: the
 * emulators' clocks may differ from it, and "now" is what a person watches), in a fixed ring of
 * `windowS` buckets, so memory is bounded whatever the fleet size.
 */
export const DHCP_KINDS = ["discover", "offer", "request", "ack", "nak"] as const;
export type DhcpKind = (typeof DHCP_KINDS)[number];

export type DhcpSecond = { t: number } & Record<DhcpKind, number>;

const KIND_OF: Record<string, DhcpKind> = {
  dhcp_discover: "discover",
  dhcp_offer: "offer",
  dhcp_request: "request",
  dhcp_ack: "ack",
  dhcp_nak: "nak",
};

export class DhcpRate {
  readonly windowS: number;
  private readonly seconds: Int32Array;
  private readonly counts: Int32Array;
  private total = 0;

  constructor(windowS = 180) {
    this.windowS = windowS;
    this.seconds = new Int32Array(windowS).fill(-1);
    this.counts = new Int32Array(windowS * DHCP_KINDS.length);
  }

  /** Counts a message of this `type` (others are ignored) at `atMs`; true if it counted. */
  add(type: string, atMs: number): boolean {
    const kind = KIND_OF[type];
    if (!kind) return false;
    const second = Math.floor(atMs / 1000);
    const slot = second % this.windowS;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts.fill(0, slot * DHCP_KINDS.length, (slot + 1) * DHCP_KINDS.length);
    }
    this.counts[slot * DHCP_KINDS.length + DHCP_KINDS.indexOf(kind)]! += 1;
    this.total += 1;
    return true;
  }

  /** Steps counted since the start (a cheap "did anything change" for polling views). */
  get version(): number {
    return this.total;
  }

  /** One entry per second of the window ending at `nowMs`, oldest first (zeros where nothing came). */
  series(nowMs: number): DhcpSecond[] {
    const last = Math.floor(nowMs / 1000);
    const out: DhcpSecond[] = [];
    for (let second = last - this.windowS + 1; second <= last; second++) {
      const slot = ((second % this.windowS) + this.windowS) % this.windowS;
      const fresh = this.seconds[slot] === second;
      const entry = { t: second * 1000 } as DhcpSecond;
      DHCP_KINDS.forEach((kind, i) => {
        entry[kind] = fresh ? this.counts[slot * DHCP_KINDS.length + i]! : 0;
      });
      out.push(entry);
    }
    return out;
  }
}
