import { type ReactElement, cloneElement, useId } from "react";
import "../../styles/base.css";
import "./field.css";

export interface FieldProps {
  label: string;
  /** The control (input, select...): it receives `id`, `aria-invalid` and `aria-describedby`. */
  children: ReactElement<Record<string, unknown>>;
  error?: string;
  hint?: string;
  className?: string;
}

/** A labelled control with its hint and its error message (announced, and linked to the control). */
export function Field({ label, children, error, hint, className }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : "", error ? errorId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`iot-field ${error ? "iot-field--invalid" : ""} ${className ?? ""}`.trim()}>
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id, "aria-invalid": error ? true : undefined, "aria-describedby": describedBy })}
      {hint && !error && (
        <div id={hintId} className="iot-field__hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={errorId} className="iot-field__error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
