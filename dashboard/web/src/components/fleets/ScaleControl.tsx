import { useState } from "react";
import { Button } from "../common/Button";
import "../../styles/base.css";
import "./fleets.css";

export interface ScaleControlProps {
  name: string;
  replicas: number;
  onScale: (name: string, replicas: number) => Promise<void>;
}

/** Number of members: type it or step it, then apply. */
export function ScaleControl({ name, replicas, onScale }: ScaleControlProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const value = draft ?? String(replicas);
  const wanted = Number(value);
  const valid = Number.isInteger(wanted) && wanted >= 0 && wanted <= 100000;
  const apply = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!valid) return;
    setBusy(true);
    try {
      await onScale(name, wanted);
      setDraft(null);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="iot-scale" onSubmit={(e) => void apply(e)}>
      <label className="iot-visually-hidden" htmlFor={`scale-${name}`}>
        Replicas of {name}
      </label>
      <input id={`scale-${name}`} type="number" min={0} max={100000} value={value} onChange={(e) => setDraft(e.target.value)} aria-invalid={!valid || undefined} />
      <Button type="submit" disabled={!valid || busy || wanted === replicas}>
        {busy ? "Scaling…" : "Scale"}
      </Button>
    </form>
  );
}
