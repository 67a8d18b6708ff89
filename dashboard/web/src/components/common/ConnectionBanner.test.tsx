import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Connection } from "../../hooks/useEventStream";
import { ConnectionBanner, ConnectionPill } from "./ConnectionBanner";

const base: Connection = { state: "open", attempt: 0, retryAt: null, lastClose: null, retryNow: () => {} };

describe("ConnectionBanner", () => {
  it("is absent while connected", () => {
    const { container } = render(<ConnectionBanner connection={base} />);
    expect(container).toBeEmptyDOMElement();
  });

  it("says when the next attempt is and retries on demand", async () => {
    let retried = 0;
    const connection = { ...base, state: "reconnecting" as const, attempt: 3, retryAt: Date.now() + 4000, lastClose: "code 1006", retryNow: () => void retried++ };
    render(<ConnectionBanner connection={connection} />);
    expect(screen.getByRole("alert")).toHaveTextContent("Live updates are disconnected. Reconnecting in 4s (attempt 3).");
    await userEvent.click(screen.getByRole("button", { name: "Reconnect now" }));
    expect(retried).toBe(1);
  });

  it("explains a refused token", () => {
    render(<ConnectionBanner connection={{ ...base, state: "unauthorized", lastClose: "missing or wrong token" }} />);
    expect(screen.getByRole("alert")).toHaveTextContent("the service wants a valid token");
  });

  it("the pill shows the state in words", () => {
    render(<ConnectionPill connection={{ ...base, state: "reconnecting" }} />);
    expect(screen.getByTestId("connection-state")).toHaveTextContent("Reconnecting");
  });
});
