/**
 * Add or edit a device. Validation is the service's: a 422 puts each message next to its field
 * (`api/errors.fieldErrors`), anything else above the buttons.
 */
import { useState } from "react";
import { ApiError, type FieldErrors, fieldErrors } from "../../api/errors";
import { type Device, PROTOCOLS, type ProfileSummary, type Protocol } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { METHOD_LABEL } from "../../lib/auth";
import { randomMac } from "../../lib/mac";
import { Button } from "../common/Button";
import { Dialog } from "../common/Dialog";
import { Field } from "../common/Field";
import { ProfileCard, ProfilePicker } from "./ProfilePicker";
import { type Dot1xChoice, type FormValues, createBody, emptyValues, speaksIpv6, updateBody, valuesOf, withIpv6 } from "./formValues";
import "../../styles/base.css";
import "./form.css";

export interface DeviceFormProps {
  /** The device to edit; absent: a new one. */
  device?: Device;
  profiles: readonly ProfileSummary[];
  onClose: () => void;
  onSaved: (device: Device) => void;
}

const NO_ERRORS: FieldErrors = { fields: {}, general: [] };

export function DeviceForm({ device, profiles, onClose, onSaved }: DeviceFormProps) {
  const { api } = useTab();
  const [values, setValues] = useState<FormValues>(() => (device ? valuesOf(device) : emptyValues()));
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [saving, setSaving] = useState(false);
  const profile = profiles.find((p) => p.name === values.profile);
  const set = <K extends keyof FormValues>(key: K, value: FormValues[K]) => setValues((v) => ({ ...v, [key]: value }));
  const err = (field: string) => errors.fields[field];

  const chooseProfile = (name: string) => {
    const chosen = profiles.find((p) => p.name === name);
    setValues((v) => ({ ...v, profile: name, protocols: v.profileProtocols ? ((chosen?.protocols ?? []) as Protocol[]) : v.protocols }));
  };

  const profileProtocols = (profile?.protocols ?? []) as Protocol[];
  const supplicant = profile?.dot1x ? METHOD_LABEL[profile.dot1x] ?? profile.dot1x : null;
  const dot1xDefault = !profile
    ? "The profile's"
    : supplicant
      ? `The profile's (${supplicant}, ${profile.dot1xEnabled ? "on" : "off"})`
      : "The profile's (none: MAB)";

  const toggleProtocol = (p: Protocol) =>
    set("protocols", values.protocols.includes(p) ? values.protocols.filter((x) => x !== p) : [...values.protocols, p]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setErrors(NO_ERRORS);
    try {
      const saved = device
        ? await api.replaceDevice(device.name, updateBody(values, device))
        : await api.createDevice(createBody(values));
      onSaved(saved);
    } catch (exc) {
      setErrors(exc instanceof ApiError ? fieldErrors(exc) : { fields: {}, general: [String(exc)] });
    } finally {
      setSaving(false);
    }
  };

  const formId = device ? "iot-edit-device" : "iot-add-device";
  return (
    <Dialog
      title={device ? `Edit ${device.name}` : "Add device"}
      onClose={onClose}
      size="large"
      footer={
        <>
          {errors.general.length > 0 && (
            <div className="iot-form-errors" role="alert">
              {errors.general.map((line, i) => (
                <div key={i}>{line}</div>
              ))}
            </div>
          )}
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" form={formId} variant="primary" disabled={saving}>
            {saving ? "Saving…" : device ? "Save" : "Add device"}
          </Button>
        </>
      }
    >
      <form id={formId} className="iot-form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="iot-form__main">
          <Field label="Device ID" error={err("name")} hint="Lower-case letters, digits and dashes (a DNS label).">
            <input value={values.name} onChange={(e) => set("name", e.target.value)} disabled={Boolean(device)} data-autofocus autoComplete="off" />
          </Field>
          <Field label="Profile" error={err("profile")}>
            <ProfilePicker profiles={profiles} value={values.profile} onChange={chooseProfile} />
          </Field>
          <Field
            label="MAC address"
            error={err("mac")}
            hint={profile ? `Empty: derived from the ID inside the profile's OUI ${profile.ouis[0] ?? ""}.` : "Empty: derived from the ID inside the profile's OUI."}
          >
            <input
              className="iot-mono"
              value={values.mac}
              placeholder={profile?.ouis[0] ? `${profile.ouis[0]}:xx:xx:xx` : "aa:bb:cc:dd:ee:ff"}
              onChange={(e) => set("mac", e.target.value)}
              autoComplete="off"
            />
          </Field>
          <div className="iot-inline">
            <Button disabled={!profile?.ouis[0]} onClick={() => profile?.ouis[0] && set("mac", randomMac(profile.ouis[0]))}>
              Random MAC in OUI
            </Button>
          </div>
          <fieldset className="iot-fieldset">
            <legend>DHCP</legend>
            <label className="iot-radio">
              <input type="radio" name="dhcpMode" checked={values.dhcpMode === "auto"} onChange={() => set("dhcpMode", "auto")} />
              Automatic (DORA)
            </label>
            <label className="iot-radio">
              <input type="radio" name="dhcpMode" checked={values.dhcpMode === "static"} onChange={() => set("dhcpMode", "static")} />
              Request an address
            </label>
            <Field label="Requested address" error={err("address") ?? err("dhcpMode")} hint="Sent as option 50; the server decides.">
              <input className="iot-mono" value={values.address} onChange={(e) => set("address", e.target.value)} disabled={values.dhcpMode !== "static"} placeholder="10.77.0.50" />
            </Field>
          </fieldset>
          <fieldset className="iot-fieldset">
            <legend>Protocols</legend>
            <label className="iot-check">
              <input
                type="checkbox"
                checked={values.profileProtocols}
                onChange={(e) => setValues((v) => ({ ...v, profileProtocols: e.target.checked, protocols: v.protocols.length ? v.protocols : ((profile?.protocols ?? []) as Protocol[]) }))}
              />
              The profile's protocols
            </label>
            <div className="iot-protocols" aria-label="Protocols to run" role="group">
              {PROTOCOLS.map((p) => (
                <label key={p} className="iot-check iot-check--chip">
                  <input
                    type="checkbox"
                    disabled={values.profileProtocols}
                    checked={values.profileProtocols ? Boolean(profile?.protocols.includes(p)) : values.protocols.includes(p)}
                    onChange={() => toggleProtocol(p)}
                  />
                  {p}
                </label>
              ))}
            </div>
            {err("protocols") && <div className="iot-field__error" role="alert">{err("protocols")}</div>}
          </fieldset>
          <fieldset className="iot-fieldset">
            <legend>VLAN</legend>
            <Field label="VLAN id (802.1Q)" error={err("vlan")} hint="Empty: untagged. Every frame the device sends carries the tag.">
              <input type="number" min={1} max={4094} value={values.vlan} onChange={(e) => set("vlan", e.target.value)} placeholder="untagged" />
            </Field>
            <Field label="Priority (802.1p)" error={err("vlanPriority")}>
              <input type="number" min={0} max={7} value={values.vlanPriority} onChange={(e) => set("vlanPriority", e.target.value)} disabled={!values.vlan} />
            </Field>
            <Field label="Outer VLAN (QinQ S-tag)" error={err("outerVlan")} hint="An 802.1ad tag outside the VLAN id; empty: none.">
              <input type="number" min={1} max={4094} value={values.outerVlan} onChange={(e) => set("outerVlan", e.target.value)} disabled={!values.vlan} />
            </Field>
          </fieldset>
          <fieldset className="iot-fieldset">
            <legend>IPv6 and 802.1X</legend>
            <label className="iot-check">
              <input type="checkbox" checked={speaksIpv6(values, profileProtocols)} onChange={(e) => setValues((v) => withIpv6(v, profileProtocols, e.target.checked))} />
              IPv6 (link-local, SLAAC, DHCPv6)
            </label>
            <Field
              label="802.1X"
              error={err("dot1x")}
              hint={
                !profile
                  ? "Choose a profile to see its supplicant."
                  : supplicant
                    ? `${supplicant} as the real device; DHCP waits for the port to be authorized.`
                    : "This profile has no supplicant: it stays silent on EAPOL and its switch port falls back to MAB."
              }
            >
              <select value={values.dot1x} onChange={(e) => set("dot1x", e.target.value as Dot1xChoice)}>
                <option value="profile">{dot1xDefault}</option>
                <option value="on" disabled={Boolean(profile) && !supplicant}>
                  On: authenticate{supplicant ? ` (${supplicant})` : ""}
                </option>
                <option value="off">Off: silent on EAPOL (MAB)</option>
              </select>
            </Field>
          </fieldset>
          <Field label="Traffic interval (seconds)" error={err("trafficInterval")}>
            <input type="number" min={1} max={86400} value={values.trafficInterval} onChange={(e) => set("trafficInterval", e.target.value)} />
          </Field>
          <label className="iot-check">
            <input type="checkbox" checked={values.running} onChange={(e) => set("running", e.target.checked)} />
            {device ? "Running" : "Start it now"}
          </label>
        </div>
        <aside className="iot-form__side">{profile ? <ProfileCard profile={profile} /> : <p className="iot-cell-muted">Choose a profile to see its fingerprints.</p>}</aside>
      </form>
    </Dialog>
  );
}
