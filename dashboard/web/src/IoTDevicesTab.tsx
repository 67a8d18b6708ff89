/**
 * The "IoT Devices" tab: what a host React application imports (`apiBaseUrl`, `token`), and what
 * the standalone shell renders. It makes the API client, the live store and the WebSocket once,
 * and shares them through `TabContext`.
 */
import { useCallback, useMemo, useRef, useState } from "react";
import { Api } from "./api/client";
import { ConnectionBanner, ConnectionPill } from "./components/common/ConnectionBanner";
import { Notices } from "./components/common/Notices";
import { ErrorState } from "./components/common/States";
import { Tabs } from "./components/common/Tabs";
import { DevicesView } from "./components/devices/DevicesView";
import { LiveCounts } from "./components/devices/LiveCounts";
import { FleetView } from "./components/fleets/FleetView";
import { TrafficView } from "./components/traffic/TrafficView";
import { type Notice, type NoticeKind, TabContext, type TabServices, useTab } from "./hooks/TabContext";
import { useDeviceList } from "./hooks/useDeviceList";
import type { EventStreamOptions } from "./hooks/useEventStream";
import { useLiveFeed } from "./hooks/useLiveFeed";
import { useProfiles } from "./hooks/useProfiles";
import { LiveStore } from "./lib/live/store";
import "./styles/base.css";
import "./IoTDevicesTab.css";

export interface IoTDevicesTabProps {
  /** Base URL of the dashboard service (`""`: the page's own origin). */
  apiBaseUrl: string;
  /** Bearer token for the API and the WebSocket, when the service requires one. */
  token?: string | null;
  /** Title shown in the tab's header. */
  title?: string;
  /** For tests and benchmarks: WebSocket options (class, backoff). */
  streamOptions?: EventStreamOptions;
}

type View = "devices" | "fleets" | "traffic";

export function IoTDevicesTab({ apiBaseUrl, token = null, title = "IoT Devices", streamOptions }: IoTDevicesTabProps) {
  const api = useMemo(() => new Api({ baseUrl: apiBaseUrl, token }), [apiBaseUrl, token]);
  const store = useMemo(() => new LiveStore(), []);
  const list = useDeviceList(api, store);
  const connection = useLiveFeed(api, store, list, streamOptions);
  const [notices, setNotices] = useState<Notice[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => setNotices((all) => all.filter((n) => n.id !== id)), []);
  const notify = useCallback(
    (kind: NoticeKind, title: string, lines?: string[]) => {
      const id = nextId.current++;
      setNotices((all) => [...all.slice(-4), { id, kind, title, lines }]);
      if (kind !== "error") setTimeout(() => dismiss(id), 5000);
    },
    [dismiss],
  );

  const services = useMemo<TabServices>(() => ({ api, store, connection, notify }), [api, store, connection, notify]);
  return (
    <TabContext.Provider value={services}>
      <section className="iot-tab" aria-label={title}>
        <TabBody title={title} list={list} />
        <Notices notices={notices} onDismiss={dismiss} />
      </section>
    </TabContext.Provider>
  );
}

interface TabBodyProps {
  title: string;
  list: ReturnType<typeof useDeviceList>;
}

function TabBody({ title, list }: TabBodyProps) {
  const [view, setView] = useState<View>("devices");
  const profiles = useProfiles();
  const { connection } = useTab();
  const devices = list.state.devices;
  return (
    <>
      <header className="iot-header">
        <h1>{title}</h1>
        <Tabs<View>
          label="Views"
          idPrefix="iot-view"
          active={view}
          onChange={setView}
          items={[
            { key: "devices", label: "Devices", badge: devices.length },
            { key: "fleets", label: "Fleets" },
            { key: "traffic", label: "Traffic" },
          ]}
        />
        <span className="iot-header__spacer" />
        <LiveCounts devices={devices} />
        <ConnectionPill connection={connection} />
      </header>
      <ConnectionBanner connection={connection} />
      {profiles.state.status === "error" && list.state.status !== "error" && (
        <ErrorState title="The profile library could not be loaded" error={profiles.state.error} onRetry={() => void profiles.reload()} />
      )}
      <div className="iot-view" role="tabpanel" id={`iot-view-panel-${view}`} aria-labelledby={`iot-view-tab-${view}`}>
        {view === "devices" && (
          <DevicesView list={list} profiles={profiles.state.data ?? []} profilesByName={profiles.byName} />
        )}
        {view === "fleets" && <FleetView />}
        {view === "traffic" && <TrafficView devices={devices} />}
      </div>
    </>
  );
}
