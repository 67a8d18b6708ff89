/** What every part of the tab shares: the API client, the live store, the connection, and notices. */
import { createContext, useContext } from "react";
import type { Api } from "../api/client";
import type { LiveStore } from "../lib/live/store";
import type { Connection } from "./useEventStream";

export type NoticeKind = "success" | "error" | "info";

export interface Notice {
  id: number;
  kind: NoticeKind;
  title: string;
  lines?: string[];
}

export interface TabServices {
  api: Api;
  store: LiveStore;
  connection: Connection;
  notify: (kind: NoticeKind, title: string, lines?: string[]) => void;
}

export const TabContext = createContext<TabServices | null>(null);

export function useTab(): TabServices {
  const services = useContext(TabContext);
  if (!services) throw new Error("useTab() outside <IoTDevicesTab>");
  return services;
}
