/** Protocol mix per fleet or per profile: packets per protocol from the devices' live stats. */
import { useMemo, useState } from "react";
import type { Device, Fleet } from "../../api/types";
import { useLiveTick } from "../../hooks/useLive";
import { useTab } from "../../hooks/TabContext";
import { formatCount } from "../../lib/format";
import { type GroupBy, grouper, protocolMix } from "../../lib/protocolMix";
import { Empty } from "../common/States";
import { Tabs } from "../common/Tabs";
import "../../styles/base.css";
import "./traffic.css";

const COLOURS = ["#2563eb", "#0891b2", "#16a34a", "#ca8a04", "#db2777", "#7c3aed", "#ea580c", "#475569"];

export interface ProtocolMixProps {
  devices: readonly Device[];
  fleets: readonly Fleet[];
}

export function ProtocolMix({ devices, fleets }: ProtocolMixProps) {
  const { store } = useTab();
  const [by, setBy] = useState<GroupBy>("fleet");
  const tick = useLiveTick(1000);
  const rows = useMemo(
    () => protocolMix(store.ids(), grouper(by, devices, fleets), (id) => store.get(id)?.protocols),
    // `tick`: the store's values changed (at most once a second)
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [store, by, devices, fleets, tick],
  );
  const colour = new Map<string, string>();
  for (const row of rows) for (const [name] of row.protocols) if (!colour.has(name)) colour.set(name, COLOURS[colour.size % COLOURS.length]!);
  return (
    <section className="iot-mix" aria-label="Protocol mix" data-testid="protocol-mix">
      <header className="iot-mix__header">
        <h2>Protocol mix</h2>
        <Tabs<GroupBy>
          label="Group by"
          idPrefix="iot-mix"
          active={by}
          onChange={setBy}
          items={[
            { key: "fleet", label: "By fleet" },
            { key: "profile", label: "By profile" },
          ]}
        />
      </header>
      <div role="tabpanel" id={`iot-mix-panel-${by}`} aria-labelledby={`iot-mix-tab-${by}`}>
        {rows.length === 0 ? (
          <Empty title="No statistics yet">Running devices report their packets per protocol every few seconds.</Empty>
        ) : (
          <table className="iot-table iot-mix__table">
            <thead>
              <tr>
                <th scope="col">{by === "fleet" ? "Fleet" : "Profile"}</th>
                <th scope="col" className="is-right">Devices</th>
                <th scope="col" className="is-right">Packets</th>
                <th scope="col">Mix</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.group} data-group={row.group}>
                  <th scope="row">{row.group}</th>
                  <td className="is-right">{row.devices}</td>
                  <td className="is-right">{formatCount(row.total)}</td>
                  <td>
                    <div className="iot-mix__bar" aria-hidden="true">
                      {row.protocols.map(([name, count]) => (
                        <span key={name} style={{ width: `${(100 * count) / Math.max(1, row.total)}%`, background: colour.get(name) }} />
                      ))}
                    </div>
                    <ul className="iot-mix__list">
                      {row.protocols.map(([name, count]) => (
                        <li key={name} data-protocol={name}>
                          <span className="iot-mix__swatch" style={{ background: colour.get(name) }} aria-hidden="true" />
                          {name} {Math.round((100 * count) / Math.max(1, row.total))}% <span className="iot-cell-muted">({formatCount(count)})</span>
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
