import { describe, expect, it, vi } from "vitest";
import { announce, isResourceChange, onResourceChange } from "./resourceChanges";

describe("resource changes", () => {
  it("reach every listener until it stops listening", () => {
    const first = vi.fn();
    const second = vi.fn();
    const stopFirst = onResourceChange(first);
    const stopSecond = onResourceChange(second);
    const change = { action: "created", kind: "IoTFleet", name: "cams" } as const;
    announce(change);
    stopFirst();
    announce({ ...change, action: "deleted" });
    stopSecond();
    expect(first.mock.calls).toEqual([[change]]);
    expect(second.mock.calls).toEqual([[change], [{ ...change, action: "deleted" }]]);
  });

  it("accept only well-formed frames", () => {
    expect(isResourceChange({ action: "updated", kind: "IoTDevice", name: "cam-1" })).toBe(true);
    expect(isResourceChange({ action: "renamed", kind: "IoTDevice", name: "cam-1" })).toBe(false);
    expect(isResourceChange({ action: "updated", kind: "Pod", name: "cam-1" })).toBe(false);
    expect(isResourceChange({ action: "updated", kind: "IoTDevice" })).toBe(false);
    expect(isResourceChange(null)).toBe(false);
  });
});
