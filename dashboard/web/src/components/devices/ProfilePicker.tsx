import type { ProfileSummary } from "../../api/types";
import { useFingerprint } from "../../hooks/useProfiles";
import "../../styles/base.css";
import "./profile.css";

export interface ProfilePickerProps {
  profiles: readonly ProfileSummary[];
  value: string;
  onChange: (name: string) => void;
  id?: string;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}

/** The profile library as a select grouped by device class. */
export function ProfilePicker({ profiles, value, onChange, ...aria }: ProfilePickerProps) {
  const classes = [...new Set(profiles.map((p) => p.deviceClass))].sort();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)} {...aria}>
      <option value="" disabled>
        Choose a profile…
      </option>
      {classes.map((c) => (
        <optgroup key={c} label={c}>
          {profiles
            .filter((p) => p.deviceClass === c)
            .map((p) => (
              <option key={p.name} value={p.name}>
                {p.vendor} {p.model}
              </option>
            ))}
        </optgroup>
      ))}
    </select>
  );
}

export interface ProfileCardProps {
  profile: ProfileSummary;
}

const list = (values: readonly (string | number)[]) => (values.length ? values.join(", ") : "–");

/** What the chosen profile makes the device look like to a discovery product. */
export function ProfileCard({ profile }: ProfileCardProps) {
  const fingerprint = useFingerprint(profile.name);
  const fp = fingerprint.data;
  return (
    <section className="iot-profile-card" aria-label={`Profile ${profile.name}`}>
      <div className="iot-profile-card__head">
        <strong>
          {profile.vendor} {profile.model}
        </strong>
        <span className="iot-chip">{profile.deviceClass}</span>
      </div>
      <dl className="iot-dl">
        <dt>Profile</dt>
        <dd className="iot-mono">{profile.name}</dd>
        <dt>OS</dt>
        <dd>{profile.os}</dd>
        <dt>OUIs</dt>
        <dd className="iot-mono">{list(profile.ouis)}</dd>
        <dt>Protocols</dt>
        <dd>
          {profile.protocols.map((p) => (
            <span key={p} className="iot-chip iot-chip--small">
              {p}
            </span>
          ))}
        </dd>
        {fingerprint.status === "loading" && (
          <>
            <dt>Fingerprint</dt>
            <dd>Loading…</dd>
          </>
        )}
        {fingerprint.status === "error" && (
          <>
            <dt>Fingerprint</dt>
            <dd>Not available ({fingerprint.error.message})</dd>
          </>
        )}
        {fp && (
          <>
            <dt title="DHCP option order">DHCP options</dt>
            <dd className="iot-mono">{list(fp.dhcpOptions)}</dd>
            <dt title="Option 55: parameter request list">Option 55</dt>
            <dd className="iot-mono">{list(fp.parameterRequestList)}</dd>
            {fp.vendorClass && (
              <>
                <dt title="Option 60: vendor class identifier">Option 60</dt>
                <dd className="iot-mono">{fp.vendorClass}</dd>
              </>
            )}
            {fp.hostnamePattern && (
              <>
                <dt>Host name</dt>
                <dd className="iot-mono">{fp.hostnamePattern}</dd>
              </>
            )}
            {fp.ttl !== null && (
              <>
                <dt>IP TTL</dt>
                <dd>{fp.ttl}</dd>
              </>
            )}
            {fp.tcp && (
              <>
                <dt>TCP SYN</dt>
                <dd className="iot-mono">{fp.tcp}</dd>
              </>
            )}
            {fp.userAgent && (
              <>
                <dt>User-Agent</dt>
                <dd className="iot-mono">{fp.userAgent}</dd>
              </>
            )}
          </>
        )}
      </dl>
    </section>
  );
}
