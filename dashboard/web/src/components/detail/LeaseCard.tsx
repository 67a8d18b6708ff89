import { useLiveDevice, useNow } from "../../hooks/useLive";
import { methodLabel, outcomeText } from "../../lib/auth";
import { formatBytes, formatCount, formatDuration, formatTime } from "../../lib/format";
import { AuthBadge } from "../common/AuthBadge";
import type { Lease } from "../../lib/live/store";
import "../../styles/base.css";
import "./lease.css";

export interface LeaseCardProps {
  id: string;
  /** The EAP method the device is set to run (its profile's), shown until it reports one. */
  dot1xMethod?: string | null;
}

function left(lease: Lease, seconds: number | null, now: number): number | null {
  return seconds === null ? null : seconds - (now - lease.at) / 1000;
}

function Countdown({ label, seconds }: { label: string; seconds: number | null }) {
  const due = seconds !== null && seconds <= 0;
  return (
    <>
      <dt>{label}</dt>
      <dd className={due ? "iot-due" : undefined}>
        {seconds === null ? "never" : due ? "due" : `in ${formatDuration(seconds)}`}
      </dd>
    </>
  );
}

/** The device's address and lease (server, lease time, T1/T2/expiry counting down) and its counters. */
export function LeaseCard({ id, dot1xMethod = null }: LeaseCardProps) {
  const live = useLiveDevice(id);
  const now = useNow(1000);
  const lease = live?.lease ?? null;
  const authLast = live?.authLast ?? null;
  const method = authLast?.method ?? dot1xMethod;
  return (
    <section className="iot-card" aria-label="Lease and counters">
      <dl className="iot-dl iot-dl--grid">
        <dt>IP address</dt>
        <dd className="iot-mono" data-testid="detail-ip">{live?.ip ?? "–"}</dd>
        {live?.ipv6 && live.ipv6.length > 0 && (
          <>
            <dt>IPv6</dt>
            <dd className="iot-mono" data-testid="detail-ipv6">
              {live.ipv6.map((address) => (
                <div key={address}>{address}</div>
              ))}
            </dd>
          </>
        )}
        <dt>DHCP server</dt>
        <dd className="iot-mono">{lease?.serverId ?? "–"}</dd>
        <dt>Lease time</dt>
        <dd>{lease?.leaseTime ? formatDuration(lease.leaseTime) : "–"}</dd>
        {lease ? (
          <>
            <Countdown label="Renew (T1)" seconds={left(lease, lease.t1In, now)} />
            <Countdown label="Rebind (T2)" seconds={left(lease, lease.t2In, now)} />
            <Countdown label="Expires" seconds={left(lease, lease.expiresIn, now)} />
          </>
        ) : (
          <>
            <dt>Renew (T1)</dt>
            <dd>–</dd>
          </>
        )}
        <dt>DHCP state</dt>
        <dd>{live?.dhcpState ?? "–"}</dd>
        <dt>802.1X</dt>
        <dd data-testid="detail-auth">
          <AuthBadge state={live?.auth ?? null} />
          {method && <span className="iot-auth-method">{methodLabel(method)}</span>}
        </dd>
        {authLast && (
          <>
            <dt className="iot-dt--row">Last 802.1X result</dt>
            <dd className="iot-dd--wide" data-testid="detail-auth-last" data-result={authLast.result}>
              {outcomeText(authLast)}
              {authLast.identity && <span className="iot-auth-method iot-mono">{authLast.identity}</span>}
              {authLast.timestamp && <span className="iot-auth-method">at {formatTime(authLast.timestamp)}</span>}
            </dd>
          </>
        )}
        <dt>Uptime</dt>
        <dd>{formatDuration(live?.uptime)}</dd>
        <dt>Sent</dt>
        <dd>
          {formatCount(live?.packetsSent ?? 0)} pkts · {formatBytes(live?.bytesSent ?? 0)}
        </dd>
        <dt>Received</dt>
        <dd>
          {formatCount(live?.packetsReceived ?? 0)} pkts · {formatBytes(live?.bytesReceived ?? 0)}
        </dd>
      </dl>
      {live?.lastError && (
        <div className="iot-callout iot-callout--error" role="status">
          Last error: {live.lastError}
        </div>
      )}
    </section>
  );
}
