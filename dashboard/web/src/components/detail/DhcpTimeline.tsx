import { useLiveDhcp } from "../../hooks/useLive";
import { formatDuration, formatTime } from "../../lib/format";
import type { DhcpEvent } from "../../lib/live/messages";
import { Empty } from "../common/States";
import "../../styles/base.css";
import "./timeline.css";

export interface DhcpTimelineProps {
  id: string;
}

const LABEL: Record<DhcpEvent["type"], string> = {
  dhcp_discover: "DISCOVER",
  dhcp_offer: "OFFER",
  dhcp_request: "REQUEST",
  dhcp_ack: "ACK",
  dhcp_nak: "NAK",
  dhcp_renew: "RENEW",
  dhcp_rebind: "REBIND",
  dhcp_release: "RELEASE",
  dhcp_decline: "DECLINE",
  dhcp_expire: "EXPIRE",
};

function detail(e: DhcpEvent): string {
  const parts: string[] = [];
  if (e.ip) parts.push(e.type === "dhcp_offer" ? `offers ${e.ip}` : e.type === "dhcp_ack" ? `assigns ${e.ip}` : e.ip);
  if (e.leaseTime !== null) parts.push(`lease ${formatDuration(e.leaseTime)}`);
  if (e.note) parts.push(e.note);
  return parts.join(" · ");
}

/** The device's DHCP exchanges, newest first: step, time, address, and the server that answered. */
export function DhcpTimeline({ id }: DhcpTimelineProps) {
  const events = useLiveDhcp(id);
  if (!events.length) return <Empty title="No DHCP exchange yet">Start the device to see DISCOVER, OFFER, REQUEST and ACK.</Empty>;
  return (
    <ol className="iot-timeline" aria-label="DHCP timeline">
      {[...events].reverse().map((e, i) => (
        <li key={`${e.timestamp}-${e.type}-${i}`} className={`iot-timeline__item iot-timeline__item--${e.type}`} data-type={e.type}>
          <span className="iot-timeline__dot" aria-hidden="true" />
          <time className="iot-timeline__time" dateTime={e.timestamp}>
            {formatTime(e.timestamp, true)}
          </time>
          <span className="iot-timeline__type">{LABEL[e.type]}</span>
          <span className="iot-timeline__detail">{detail(e)}</span>
          <span className="iot-timeline__server iot-mono" title="DHCP server">
            {e.server ? `server ${e.server}` : ""}
          </span>
          {e.xid && <span className="iot-timeline__xid iot-mono">xid {e.xid}</span>}
        </li>
      ))}
    </ol>
  );
}
