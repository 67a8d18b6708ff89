import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { ConfirmDialog } from "./ConfirmDialog";

function Host({ onConfirm }: { onConfirm: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button onClick={() => setOpen(true)}>Delete cam</button>
      {open && (
        <ConfirmDialog title="Delete cam?" message="It is stopped first." confirmLabel="Delete" danger onConfirm={onConfirm} onClose={() => setOpen(false)} />
      )}
    </>
  );
}

describe("ConfirmDialog", () => {
  it("is a labelled modal that starts on Cancel, keeps Tab inside, and closes on Escape", async () => {
    const confirmed: number[] = [];
    render(<Host onConfirm={() => void confirmed.push(1)} />);
    const opener = screen.getByRole("button", { name: "Delete cam" });
    await userEvent.click(opener);
    const dialog = screen.getByRole("dialog", { name: "Delete cam?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(dialog).toHaveAccessibleDescription("It is stopped first.");
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Delete" })).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Close dialog" })).toHaveFocus(); // wrapped to the first
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
    expect(confirmed).toEqual([]);
  });

  it("runs the action on confirm", async () => {
    const confirmed: number[] = [];
    render(<Host onConfirm={() => void confirmed.push(1)} />);
    await userEvent.click(screen.getByRole("button", { name: "Delete cam" }));
    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(confirmed).toEqual([1]);
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });
});
