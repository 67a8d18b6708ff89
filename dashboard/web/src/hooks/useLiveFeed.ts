/** Routes the WebSocket's frames: snapshots and resource changes to the lists, device messages to the live store. */
import { useCallback, useRef } from "react";
import type { Api } from "../api/client";
import { type EmulatorMessage, type Frame, isSnapshot } from "../lib/live/messages";
import { announce, isResourceChange } from "../lib/live/resourceChanges";
import type { LiveStore } from "../lib/live/store";
import type { DeviceList } from "./useDeviceList";
import { type Connection, type EventStreamOptions, useEventStream } from "./useEventStream";

export function useLiveFeed(api: Api, store: LiveStore, list: DeviceList, options?: EventStreamOptions): Connection {
  const { applySnapshot, reloadSoon, has } = list;
  const asked = useRef(new Set<string>());
  const onMessage = useCallback(
    (message: EmulatorMessage) => {
      store.dhcpRate.add(message.type, Date.now());
      const id = message.device_id;
      // A device created elsewhere (another browser) speaks before we list it: fetch the list once
      // per unknown id (fleet members stay unknown: they are not IoTDevices).
      if (message.type === "started" && !has(id) && !asked.current.has(id)) {
        asked.current.add(id);
        reloadSoon();
      }
    },
    [store, reloadSoon, has],
  );
  const onResource = useCallback(
    (change: unknown) => {
      // created, updated or deleted in another tab (or by a program): list again, as this tab would
      if (isResourceChange(change)) {
        if (change.kind === "IoTDevice") reloadSoon();
        announce(change);
      }
    },
    [reloadSoon],
  );
  const onFrame = useCallback(
    (frame: Frame) => {
      switch (frame.event) {
        case "snapshot":
          if (isSnapshot(frame.data)) applySnapshot(frame.data.devices);
          return;
        case "resource:changed":
          onResource(frame.data);
          return;
        case "batch": {
          // One frame per tick with everything since the last: the store takes the device messages
          // at once (its listeners hear once per animation frame); lost messages mean the list is stale.
          const devices: EmulatorMessage[] = [];
          for (const message of frame.data.messages) {
            if (message.type === "resource") onResource(message);
            else devices.push(message);
          }
          store.applyBatch(devices);
          devices.forEach(onMessage);
          if (frame.data.dropped > 0) reloadSoon();
          return;
        }
        case "dropped":
        case "stats:response":
        case "subscribed":
        case "error":
          return;
        default: {
          const message = frame.data; // a device:<type> frame: parseFrame checked it is that message
          store.apply(message);
          onMessage(message);
        }
      }
    },
    [store, applySnapshot, reloadSoon, onMessage, onResource],
  );
  return useEventStream(api.wsUrl(), onFrame, { ...options, protocols: api.wsProtocols() });
}
