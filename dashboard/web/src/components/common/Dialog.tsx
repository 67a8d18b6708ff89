/**
 * A modal dialog: labelled, focus moved in on open and back on close, Tab kept inside, Escape
 * closes. Rendered inside the tab (no portal) so the host application's page keeps our styles scoped.
 */
import { type ReactNode, useEffect, useId, useRef } from "react";
import { Button } from "./Button";
import "../../styles/base.css";
import "./dialog.css";

export interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  size?: "small" | "medium" | "large";
  /** Accessible description (the confirmation's question). */
  describedBy?: string;
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function Dialog({ title, onClose, children, footer, size = "medium", describedBy }: DialogProps) {
  const titleId = useId();
  const box = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  useEffect(() => {
    onCloseRef.current = onClose;
  });

  useEffect(() => {
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const node = box.current;
    const first = node?.querySelector<HTMLElement>("[autofocus], [data-autofocus]") ??
      node?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? node)?.focus();
    // Escape closes even when the focus has fallen out of the dialog (a button that got disabled).
    const escape = (event: KeyboardEvent) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        onCloseRef.current();
      }
    };
    document.addEventListener("keydown", escape);
    return () => {
      document.removeEventListener("keydown", escape);
      previous?.focus();
    };
  }, []);

  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key !== "Tab" || !box.current) return;
    const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    if (!items.length) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <div className="iot-dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={box}
        className={`iot-dialog iot-dialog--${size}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={describedBy}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="iot-dialog__header">
          <h2 id={titleId}>{title}</h2>
          <Button variant="ghost" icon="close" iconOnly label="Close dialog" onClick={onClose} />
        </header>
        <div className="iot-dialog__body">{children}</div>
        {footer && <footer className="iot-dialog__footer">{footer}</footer>}
      </div>
    </div>
  );
}
