import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => cleanup());

// jsdom has no layout: give ResizeObserver (Recharts, TanStack Virtual) a stand-in and elements a size.
class ResizeObserverStub {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}
globalThis.ResizeObserver ??= ResizeObserverStub as unknown as typeof ResizeObserver;
Object.defineProperties(HTMLElement.prototype, {
  offsetHeight: { configurable: true, get: () => 600 },
  offsetWidth: { configurable: true, get: () => 1200 },
  clientHeight: { configurable: true, get: () => 600 },
  clientWidth: { configurable: true, get: () => 1200 },
});
// Scrolling moves scrollTop and fires "scroll", so the virtualiser follows keyboard moves.
Element.prototype.scrollTo = function scrollTo(this: Element, options?: ScrollToOptions | number) {
  const top = typeof options === "number" ? options : options?.top;
  if (typeof top === "number") this.scrollTop = top;
  this.dispatchEvent(new Event("scroll"));
} as Element["scrollTo"];
