import { useNow } from "../../hooks/useLive";
import { formatAgo, formatTime } from "../../lib/format";

export interface AgoProps {
  iso: string | null | undefined;
}

/** "12s ago", kept current by the shared one-second clock (only this text re-renders). */
export function Ago({ iso }: AgoProps) {
  const now = useNow(1000);
  return <time dateTime={iso ?? undefined} title={iso ? formatTime(iso, true) : undefined}>{formatAgo(iso, now)}</time>;
}
