import { act, renderHook } from "@testing-library/react";
import { FakeSocket } from "../test/fakes";
import { statsMsg } from "../test/messages";
import { useEventStream } from "./useEventStream";

const OPTIONS = {
  WebSocket: FakeSocket as unknown as typeof WebSocket,
  random: () => 0.5, // no jitter: exact delays
  backoff: { initial: 500, max: 4000, factor: 2, jitter: 0.2 },
};

describe("useEventStream", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-26T12:00:00Z"));
    FakeSocket.instances = [];
  });
  afterEach(() => vi.useRealTimers());

  it("connects, reports open, and hands over parsed frames", () => {
    const frames: unknown[] = [];
    const { result } = renderHook(() => useEventStream("ws://svc/ws", (f) => frames.push(f), OPTIONS));
    expect(result.current.state).toBe("connecting");
    expect(FakeSocket.last.url).toBe("ws://svc/ws");
    act(() => FakeSocket.last.open());
    expect(result.current.state).toBe("open");
    const stats = statsMsg("a", "2026-11-26T12:00:00.000Z");
    act(() => FakeSocket.last.emit("device:stats", stats));
    act(() => FakeSocket.last.emit("device:stats", { device_id: "a" })); // not a message: no type, no timestamp
    act(() => FakeSocket.last.onmessage?.(new MessageEvent("message", { data: "not json" })));
    expect(frames).toEqual([{ event: "device:stats", data: stats }]);
  });

  it("reconnects with exponential backoff, capped, and resets after a success", () => {
    const { result } = renderHook(() => useEventStream("ws://svc/ws", () => {}, OPTIONS));
    act(() => FakeSocket.last.open());
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      act(() => FakeSocket.last.drop(1006, "gone"));
      expect(result.current.state).toBe("reconnecting");
      expect(result.current.lastClose).toBe("gone");
      const wait = result.current.retryAt! - Date.now();
      waits.push(wait);
      const before = FakeSocket.instances.length;
      act(() => vi.advanceTimersByTime(wait - 1));
      expect(FakeSocket.instances.length).toBe(before); // not early
      act(() => vi.advanceTimersByTime(1));
      expect(FakeSocket.instances.length).toBe(before + 1);
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(result.current.attempt).toBe(5);
    act(() => FakeSocket.last.open());
    expect(result.current).toMatchObject({ state: "open", attempt: 0, retryAt: null });
    act(() => FakeSocket.last.drop());
    expect(result.current.retryAt! - Date.now()).toBe(500);
  });

  it("retries at once when asked, and when the browser comes back online", () => {
    const { result } = renderHook(() => useEventStream("ws://svc/ws", () => {}, OPTIONS));
    act(() => FakeSocket.last.drop());
    act(() => FakeSocket.last.open()); // the dead socket opening late is ignored
    expect(result.current.state).toBe("reconnecting");
    act(() => result.current.retryNow());
    expect(FakeSocket.instances).toHaveLength(2);
    act(() => FakeSocket.last.drop());
    act(() => window.dispatchEvent(new Event("online")));
    expect(FakeSocket.instances).toHaveLength(3);
    act(() => vi.runOnlyPendingTimers());
    expect(FakeSocket.instances).toHaveLength(3); // the timer was cancelled
  });

  it("stops retrying when the token is refused (close 1008)", () => {
    const { result } = renderHook(() => useEventStream("ws://svc/ws", () => {}, OPTIONS));
    act(() => FakeSocket.last.drop(1008, "missing or wrong token"));
    expect(result.current).toMatchObject({ state: "unauthorized", lastClose: "missing or wrong token" });
    act(() => vi.advanceTimersByTime(60_000));
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it("closes the socket and forgets its timer on unmount", () => {
    const { unmount } = renderHook(() => useEventStream("ws://svc/ws", () => {}, OPTIONS));
    act(() => FakeSocket.last.drop());
    const socket = FakeSocket.last;
    unmount();
    act(() => vi.advanceTimersByTime(10_000));
    expect(FakeSocket.instances).toEqual([socket]);
    const { unmount: again } = renderHook(() => useEventStream("ws://svc/ws", () => {}, OPTIONS));
    again();
    expect(FakeSocket.last.closed).toBe(true);
  });
});
