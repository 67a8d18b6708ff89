import { DEFAULT_BACKOFF, backoffDelay } from "./backoff";

describe("backoffDelay", () => {
  const middle = () => 0.5; // no jitter

  it("doubles from the initial delay up to the ceiling", () => {
    const delays = Array.from({ length: 9 }, (_, i) => backoffDelay(i, DEFAULT_BACKOFF, middle));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("spreads each delay by the jitter fraction, never past the ceiling", () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(400);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999999)).toBe(600);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0.999999)).toBe(30000);
  });
});
