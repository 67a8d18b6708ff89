/**
 * The only module that touches Recharts: a time series and a breakdown, behind typed props.
 * Animations are off (live data moves every second; animating each update costs frames and reads
 * badly), and every chart has a text alternative for screen readers.
 */
import {
  Area, AreaChart, Bar, BarChart, CartesianGrid, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis,
} from "recharts";
import { formatTime } from "../../lib/format";
import "../../styles/base.css";
import "./charts.css";

export interface Point {
  /** Epoch ms. */
  t: number;
  value: number;
}

const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/** Time ticks on whole seconds/minutes, at most `count` of them, so labels never repeat. */
export function timeTicks(first: number, last: number, count = 5): number[] {
  const span = Math.max(0, last - first);
  const step = (STEPS_S.find((s) => (span / 1000) / s <= count) ?? 3600) * 1000;
  const ticks: number[] = [];
  for (let t = Math.ceil(first / step) * step; t <= last; t += step) ticks.push(t);
  return ticks;
}

export interface TimeSeriesChartProps {
  title: string;
  points: readonly Point[];
  format: (value: number) => string;
  /** Axis labels (default: `format`); keep them short. */
  tickFormat?: (value: number) => string;
  color?: string;
  height?: number;
  /** Shown when there are no points yet. */
  emptyText?: string;
}

export function TimeSeriesChart({
  title, points, format, tickFormat = format, color = "#2563eb", height = 140, emptyText,
}: TimeSeriesChartProps) {
  const last = points[points.length - 1];
  const summary = last ? `${title}: ${format(last.value)} at ${formatTime(last.t)}` : `${title}: no data yet`;
  const gradient = `iot-grad-${title.replace(/\W+/g, "")}`;
  const ticks = last ? timeTicks(points[0]!.t, last.t) : [];
  return (
    <figure className="iot-chart" data-points={points.length} aria-label={summary}>
      <figcaption className="iot-chart__title">
        <span>{title}</span>
        <span className="iot-chart__value">{last ? format(last.value) : "–"}</span>
      </figcaption>
      {points.length === 0 ? (
        <div className="iot-chart__empty" style={{ height }}>
          {emptyText ?? "No samples yet"}
        </div>
      ) : (
        <div style={{ height }} aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%">
            <AreaChart data={points as Point[]} margin={{ top: 4, right: 28, bottom: 0, left: 0 }}>
              <defs>
                <linearGradient id={gradient} x1="0" y1="0" x2="0" y2="1">
                  <stop offset="0%" stopColor={color} stopOpacity={0.25} />
                  <stop offset="100%" stopColor={color} stopOpacity={0.02} />
                </linearGradient>
              </defs>
              <CartesianGrid stroke="#e5e7eb" vertical={false} />
              <XAxis
                dataKey="t"
                type="number"
                scale="time"
                domain={["dataMin", "dataMax"]}
                ticks={ticks}
                tickFormatter={(t: number) => formatTime(t)}
                tick={{ fontSize: 10, fill: "#6b7280" }}
                minTickGap={24}
                stroke="#d1d5db"
              />
              <YAxis
                width={56}
                tickFormatter={tickFormat}
                tick={{ fontSize: 10, fill: "#6b7280" }}
                stroke="#d1d5db"
                allowDecimals
              />
              <Tooltip
                isAnimationActive={false}
                labelFormatter={(t) => formatTime(Number(t))}
                formatter={(v) => [format(Number(v)), title]}
                contentStyle={{ fontSize: 12, padding: "4px 8px" }}
              />
              <Area
                type="linear"
                dataKey="value"
                stroke={color}
                strokeWidth={1.5}
                fill={`url(#${gradient})`}
                isAnimationActive={false}
                dot={false}
              />
            </AreaChart>
          </ResponsiveContainer>
        </div>
      )}
    </figure>
  );
}

export interface Slice {
  name: string;
  value: number;
}

export interface BreakdownChartProps {
  title: string;
  slices: readonly Slice[];
  format: (value: number) => string;
  height?: number;
}

const PALETTE = ["#2563eb", "#0891b2", "#16a34a", "#ca8a04", "#db2777", "#7c3aed", "#ea580c", "#475569"];

export function BreakdownChart({ title, slices, format, height }: BreakdownChartProps) {
  const total = slices.reduce((sum, s) => sum + s.value, 0);
  const rows = Math.max(slices.length, 1);
  return (
    <figure className="iot-chart" data-points={slices.length}>
      <figcaption className="iot-chart__title">
        <span>{title}</span>
        <span className="iot-chart__value">{format(total)} total</span>
      </figcaption>
      {slices.length === 0 ? (
        <div className="iot-chart__empty" style={{ height: height ?? 60 }}>
          No packets yet
        </div>
      ) : (
        <>
          <div style={{ height: height ?? rows * 22 + 8 }} aria-hidden="true">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={slices as Slice[]} layout="vertical" margin={{ top: 0, right: 48, bottom: 0, left: 0 }}>
                <XAxis type="number" hide />
                <YAxis type="category" dataKey="name" width={64} tick={{ fontSize: 11, fill: "#374151" }} stroke="#d1d5db" />
                <Tooltip isAnimationActive={false} formatter={(v) => [format(Number(v)), "packets"]} />
                <Bar
                  dataKey="value"
                  isAnimationActive={false}
                  barSize={14}
                  label={{ position: "right", fontSize: 10, fill: "#4b5563", formatter: (v: unknown) => format(Number(v)) }}
                >
                  {slices.map((s, i) => (
                    <Cell key={s.name} fill={PALETTE[i % PALETTE.length]} />
                  ))}
                </Bar>
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="iot-visually-hidden">
            <caption>{title}</caption>
            <tbody>
              {slices.map((s) => (
                <tr key={s.name}>
                  <th scope="row">{s.name}</th>
                  <td>{format(s.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </figure>
  );
}
