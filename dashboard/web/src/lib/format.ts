/** Number, size, rate, time and duration formats of the tab: short, fixed units, readable at a glance. */

const compact = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat("en");

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return whole.format(Math.round(value));
}

export function formatRate(perSecond: number | null | undefined, unit = "/s"): string {
  if (perSecond === null || perSecond === undefined) return "–";
  if (perSecond === 0) return `0${unit}`;
  if (perSecond < 10) return `${perSecond.toFixed(2).replace(/\.?0+$/, "")}${unit}`;
  return `${compact.format(perSecond)}${unit}`;
}

const SIZES = ["B", "kB", "MB", "GB", "TB"];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "–";
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < SIZES.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0) : Math.round(value)} ${SIZES[unit]}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "12s ago", "3m ago", or "–". */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return "–";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "–";
  const seconds = Math.max(0, (now - t) / 1000);
  if (seconds < 1) return "now";
  return `${formatDuration(seconds)} ago`;
}

/** Local wall-clock time with seconds (and milliseconds when asked). */
export function formatTime(value: string | number, millis = false): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "–";
  const hms = date.toLocaleTimeString("en-GB", { hour12: false });
  return millis ? `${hms}.${String(date.getMilliseconds()).padStart(3, "0")}` : hms;
}
