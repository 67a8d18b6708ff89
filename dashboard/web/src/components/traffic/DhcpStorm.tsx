/**
 * The fleet-wide DHCP timeline: DISCOVER / OFFER / REQUEST / ACK / NAK per second over the last
 * minutes, stacked bars drawn with plain elements (180 columns re-render once a second; no chart
 * library needed), with a text summary for assistive technology.
 */
import { useNow } from "../../hooks/useLive";
import { useTab } from "../../hooks/TabContext";
import { DHCP_KINDS, type DhcpKind, type DhcpSecond } from "../../lib/live/dhcpRate";
import { formatTime } from "../../lib/format";
import "../../styles/base.css";
import "./traffic.css";

export const KIND_LABEL: Record<DhcpKind, string> = {
  discover: "DISCOVER",
  offer: "OFFER",
  request: "REQUEST",
  ack: "ACK",
  nak: "NAK",
};

function total(s: DhcpSecond): number {
  return DHCP_KINDS.reduce((n, k) => n + s[k], 0);
}

export interface DhcpStormBarsProps {
  series: readonly DhcpSecond[];
}

/** The bars and legend of a series (exported for tests, which give their own series). */
export function DhcpStormBars({ series }: DhcpStormBarsProps) {
  const peak = Math.max(1, ...series.map(total));
  const sums = Object.fromEntries(DHCP_KINDS.map((k) => [k, series.reduce((n, s) => n + s[k], 0)])) as Record<DhcpKind, number>;
  const busiest = series.reduce<DhcpSecond | null>((best, s) => (total(s) > (best ? total(best) : 0) ? s : best), null);
  const window = series.length;
  const summary = DHCP_KINDS.map((k) => `${sums[k]} ${KIND_LABEL[k]}`).join(", ");
  return (
    <figure className="iot-storm" data-testid="dhcp-storm" data-total={DHCP_KINDS.reduce((n, k) => n + sums[k], 0)}>
      <figcaption className="iot-storm__title">
        <span>DHCP steps per second, last {Math.round(window / 60)} min</span>
        <span className="iot-storm__peak">
          {busiest ? `peak ${total(busiest)}/s at ${formatTime(busiest.t)}` : "no DHCP yet"}
        </span>
      </figcaption>
      <div className="iot-storm__bars" role="img" aria-label={`Last ${window} s: ${summary}`}>
        {series.map((s) => {
          const n = total(s);
          return (
            <div key={s.t} className="iot-storm__col" data-total={n} title={n ? `${formatTime(s.t)}: ${n}` : undefined}>
              {n > 0 &&
                DHCP_KINDS.map((k) =>
                  s[k] ? (
                    <span key={k} className={`iot-storm__seg is-${k}`} data-kind={k} style={{ height: `${(100 * s[k]) / peak}%` }} />
                  ) : null,
                )}
            </div>
          );
        })}
      </div>
      <ul className="iot-storm__legend">
        {DHCP_KINDS.map((k) => (
          <li key={k} data-kind={k}>
            <span className={`iot-storm__swatch is-${k}`} aria-hidden="true" />
            {KIND_LABEL[k]} <strong>{sums[k]}</strong>
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** The live timeline: the store's counter, read once a second. */
export function DhcpStorm() {
  const { store } = useTab();
  const now = useNow(1000);
  return <DhcpStormBars series={store.dhcpRate.series(now)} />;
}
