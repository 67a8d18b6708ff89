import { useMemo } from "react";
import { useLiveDevice, useLiveSamples } from "../../hooks/useLive";
import { formatBytes, formatCount, formatRate } from "../../lib/format";
import { BreakdownChart, TimeSeriesChart } from "../charts/Charts";
import "../../styles/base.css";
import "../charts/charts.css";

export interface LiveChartsProps {
  id: string;
}

const bytesPerSecond = (v: number) => `${formatBytes(v)}/s`;
const packetsPerSecond = (v: number) => formatRate(v);
const axisCount = (v: number) => formatRate(v, "");

/** Packets/s and bytes/s over the last minutes, and packets per protocol; fed by the live store. */
export function LiveCharts({ id }: LiveChartsProps) {
  const samples = useLiveSamples(id);
  const live = useLiveDevice(id);
  const pps = useMemo(() => samples.map((s) => ({ t: s.t, value: s.pps })), [samples]);
  const bps = useMemo(() => samples.map((s) => ({ t: s.t, value: s.bps })), [samples]);
  const protocols = live?.protocols;
  const slices = useMemo(
    () =>
      Object.entries(protocols ?? {})
        .map(([name, value]) => ({ name, value }))
        .sort((a, b) => b.value - a.value),
    [protocols],
  );
  const waiting = live?.phase === "stopped" ? "Not running" : "Waiting for the first stats…";
  return (
    <div className="iot-charts">
      <TimeSeriesChart title="Packets/s" points={pps} format={packetsPerSecond} tickFormat={axisCount} emptyText={waiting} />
      <TimeSeriesChart
        title="Bytes/s"
        points={bps}
        format={bytesPerSecond}
        tickFormat={formatBytes}
        color="#0891b2"
        emptyText={waiting}
      />
      <BreakdownChart title="Packets by protocol" slices={slices} format={formatCount} />
    </div>
  );
}
