/**
 * The library entry: `import { IoTDevicesTab } from "@iotemu/devices-tab"` and its stylesheet
 * (`@iotemu/devices-tab/style.css`). React, Recharts and TanStack are the host's.
 */
export { IoTDevicesTab, type IoTDevicesTabProps } from "./IoTDevicesTab";
export { Api, type ApiOptions } from "./api/client";
export { ApiError } from "./api/errors";
export type { Device, Fleet, Phase, ProfileSummary } from "./api/types";
export { LiveStore, type LiveDevice } from "./lib/live/store";
