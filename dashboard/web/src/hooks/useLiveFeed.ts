/** Routes the WebSocket's frames: snapshots and resource changes to the lists, device messages to the live store. */
import { useCallback, useRef } from "react";
import type { Api } from "../api/client";
import { type Frame, isSnapshot } from "../lib/live/messages";
import { announce, isResourceChange } from "../lib/live/resourceChanges";
import type { LiveStore } from "../lib/live/store";
import type { DeviceList } from "./useDeviceList";
import { type Connection, type EventStreamOptions, useEventStream } from "./useEventStream";

export function useLiveFeed(api: Api, store: LiveStore, list: DeviceList, options?: EventStreamOptions): Connection {
  const { applySnapshot, reloadSoon, has } = list;
  const asked = useRef(new Set<string>());
  const onFrame = useCallback(
    (frame: Frame) => {
      switch (frame.event) {
        case "snapshot":
          if (isSnapshot(frame.data)) applySnapshot(frame.data.devices);
          return;
        case "resource:changed":
          // created, updated or deleted in another tab (or by a program): list again, as this tab would
          if (isResourceChange(frame.data)) {
            if (frame.data.kind === "IoTDevice") reloadSoon();
            announce(frame.data);
          }
          return;
        case "dropped":
        case "stats:response":
        case "subscribed":
        case "error":
          return;
        default: {
          const message = frame.data; // a device:<type> frame: parseFrame checked it is that message
          store.dhcpRate.add(message.type, Date.now());
          store.apply(message);
          const id = message.device_id;
          // A device created elsewhere (another browser) speaks before we list it: fetch the list once
          // per unknown id (fleet members stay unknown: they are not IoTDevices).
          if (message.type === "started" && !has(id) && !asked.current.has(id)) {
            asked.current.add(id);
            reloadSoon();
          }
        }
      }
    },
    [store, applySnapshot, reloadSoon, has],
  );
  return useEventStream(api.wsUrl(), onFrame, { ...options, protocols: api.wsProtocols() });
}
