import { useRef } from "react";
import "../../styles/base.css";
import "./tabs.css";

export interface TabItem<K extends string> {
  key: K;
  label: string;
  badge?: string | number;
}

export interface TabsProps<K extends string> {
  items: TabItem<K>[];
  active: K;
  onChange: (key: K) => void;
  label: string;
  /** Prefix of the tab and panel ids (`${idPrefix}-tab-${key}`, `${idPrefix}-panel-${key}`). */
  idPrefix: string;
}

/** ARIA tabs: arrow keys move between tabs, the panel is labelled by its tab. */
export function Tabs<K extends string>({ items, active, onChange, label, idPrefix }: TabsProps<K>) {
  const refs = useRef(new Map<K, HTMLButtonElement>());
  const onKeyDown = (event: React.KeyboardEvent, index: number) => {
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = items[(index + step + items.length) % items.length]!;
    onChange(next.key);
    refs.current.get(next.key)?.focus();
  };
  return (
    <div className="iot-tabs" role="tablist" aria-label={label}>
      {items.map((item, i) => (
        <button
          key={item.key}
          ref={(node) => {
            if (node) refs.current.set(item.key, node);
          }}
          type="button"
          role="tab"
          id={`${idPrefix}-tab-${item.key}`}
          aria-selected={item.key === active}
          aria-controls={`${idPrefix}-panel-${item.key}`}
          tabIndex={item.key === active ? 0 : -1}
          className="iot-tabs__tab"
          onClick={() => onChange(item.key)}
          onKeyDown={(e) => onKeyDown(e, i)}
        >
          {item.label}
          {item.badge !== undefined && <span className="iot-tabs__badge">{item.badge}</span>}
        </button>
      ))}
    </div>
  );
}
