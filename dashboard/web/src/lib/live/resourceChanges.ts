/** `resource:changed` frames, shared: the device list reloads from the feed, the fleets view listens here. */
import type { ResourceChanged } from "./protocol";

/** What a listener reads of a `resource:changed` frame (its type is generated from the service's model). */
export type ResourceChange = Pick<ResourceChanged, "action" | "kind" | "name">;

type Listener = (change: ResourceChange) => void;

const listeners = new Set<Listener>();

/** Called by the live feed for every `resource:changed` frame. */
export function announce(change: ResourceChange): void {
  for (const listener of listeners) listener(change);
}

/** Listen until the returned function is called (an effect's cleanup). */
export function onResourceChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isResourceChange(value: unknown): value is ResourceChange {
  if (typeof value !== "object" || value === null) return false;
  const change = value as Record<string, unknown>;
  return (
    (change.action === "created" || change.action === "updated" || change.action === "deleted") &&
    (change.kind === "IoTDevice" || change.kind === "IoTFleet") &&
    typeof change.name === "string"
  );
}
