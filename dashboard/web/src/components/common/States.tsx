/** The three states every data view has besides "here is the data": loading, empty, error. */
import type { ReactNode } from "react";
import { Button } from "./Button";
import "../../styles/base.css";
import "./states.css";

export interface LoadingProps {
  label?: string;
}

export function Loading({ label = "Loading…" }: LoadingProps) {
  return (
    <div className="iot-state" role="status" aria-live="polite">
      <span className="iot-spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export interface EmptyProps {
  title: string;
  children?: ReactNode;
}

export function Empty({ title, children }: EmptyProps) {
  return (
    <div className="iot-state iot-state--empty">
      <strong>{title}</strong>
      {children && <div className="iot-state__body">{children}</div>}
    </div>
  );
}

export interface ErrorStateProps {
  title: string;
  error: Error;
  onRetry?: () => void;
}

export function ErrorState({ title, error, onRetry }: ErrorStateProps) {
  return (
    <div className="iot-state iot-state--error" role="alert">
      <strong>{title}</strong>
      <div className="iot-state__body">{error.message}</div>
      {onRetry && (
        <Button icon="refresh" onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}
