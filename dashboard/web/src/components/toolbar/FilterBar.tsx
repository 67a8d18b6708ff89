import type { Phase } from "../../api/types";
import { Icon } from "../common/Icon";
import { PHASE_LABEL } from "../common/StatusBadge";
import { type Filters, UNTAGGED, hasFilters } from "../devices/model";
import "../../styles/base.css";
import "./filters.css";

export interface FilterBarProps {
  filters: Filters;
  onChange: (filters: Filters) => void;
  classes: string[];
  vendors: string[];
  profiles: string[];
  /** The VLANs of the rows ("20", "100/30"); the VLAN filter shows once any row is tagged. */
  vlans: string[];
  /** Fleet names: choosing one lists its members instead of the stand-alone devices. */
  fleets: string[];
  /** Rows shown / all rows. */
  shown: number;
  total: number;
}

const STATUSES: Phase[] = ["pending", "binding", "bound", "stopped", "error"];

/** Search, the status (phase) / class / vendor / profile / VLAN filters, and which list: devices or a fleet's members. */
export function FilterBar({ filters, onChange, classes, vendors, profiles, vlans, fleets, shown, total }: FilterBarProps) {
  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => onChange({ ...filters, [key]: value });
  const noun = filters.fleet ? "members" : "devices";
  return (
    <div className="iot-filters" role="search">
      <label className="iot-search">
        <Icon name="search" />
        <span className="iot-visually-hidden">Search devices</span>
        <input
          type="search"
          placeholder="Search id, name, MAC, IP, IPv6…"
          value={filters.search}
          onChange={(e) => set("search", e.target.value)}
        />
      </label>
      <label className="iot-select">
        <span>Status</span>
        <select value={filters.status} onChange={(e) => set("status", e.target.value as Phase | "")}>
          <option value="">All</option>
          {STATUSES.map((p) => (
            <option key={p} value={p}>
              {PHASE_LABEL[p]}
            </option>
          ))}
        </select>
      </label>
      <label className="iot-select">
        <span>Class</span>
        <select value={filters.deviceClass} onChange={(e) => set("deviceClass", e.target.value)}>
          <option value="">All</option>
          {classes.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <label className="iot-select">
        <span>Vendor</span>
        <select value={filters.vendor} onChange={(e) => set("vendor", e.target.value)}>
          <option value="">All</option>
          {vendors.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <label className="iot-select">
        <span>Profile</span>
        <select value={filters.profile} onChange={(e) => set("profile", e.target.value)}>
          <option value="">All</option>
          {profiles.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      {(vlans.length > 0 || filters.vlan) && (
        <label className="iot-select">
          <span>VLAN</span>
          <select value={filters.vlan} onChange={(e) => set("vlan", e.target.value)}>
            <option value="">All</option>
            <option value={UNTAGGED}>Untagged</option>
            {vlans.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="iot-select">
        <span>Fleet</span>
        <select value={filters.fleet} onChange={(e) => set("fleet", e.target.value)}>
          <option value="">None (devices)</option>
          {fleets.map((f) => (
            <option key={f} value={f}>
              {f} members
            </option>
          ))}
        </select>
      </label>
      <span className="iot-filters__count" aria-live="polite">
        {hasFilters(filters) ? `${shown} of ${total} ${noun}` : `${total} ${total === 1 ? noun.slice(0, -1) : noun}`}
      </span>
    </div>
  );
}
