/**
 * 802.1X in words: the EAP methods, the supplicant's states and its last outcome, as the form, the
 * grid's 802.1X column and the device panel name them (one place, so they all say the same).
 */
import type { AuthOutcome, DeviceSpec, ProfileSummary } from "../api/types";
import { formatDuration } from "./format";

export const METHOD_LABEL: Readonly<Record<string, string>> = {
  md5: "EAP-MD5",
  tls: "EAP-TLS",
  peap: "PEAP/MSCHAPv2",
};

export function methodLabel(method: string | null | undefined): string {
  if (!method) return "–";
  return METHOD_LABEL[method] ?? method;
}

/** How a state looks: the status badge's tones (authorized green, in progress amber, failed red, else grey). */
export type AuthTone = "bound" | "binding" | "error" | "stopped";

interface StateInfo {
  label: string;
  tone: AuthTone;
  hint: string;
}

const STATES: Readonly<Record<string, StateInfo>> = {
  connecting: { label: "Connecting", tone: "binding", hint: "EAPOL-Start sent, no answer yet" },
  authenticating: { label: "Authenticating", tone: "binding", hint: "an EAP exchange is under way" },
  authorized: { label: "Authorized", tone: "bound", hint: "EAP-Success: the port is open" },
  failed: { label: "Held", tone: "error", hint: "EAP-Failure: silent for the held period, then retried" },
  "no-authenticator": { label: "No authenticator", tone: "stopped", hint: "no answer to EAPOL-Start: the port is taken as open" },
  mab: { label: "MAB", tone: "stopped", hint: "never speaks EAPOL: the switch falls back to MAC Authentication Bypass" },
};

export function authState(state: string): StateInfo {
  return STATES[state] ?? { label: state, tone: "stopped", hint: state };
}

/** "EAP-Success (PEAP/MSCHAPv2)", "EAP-Failure (EAP-MD5), retry in 1m", "No authenticator after the Starts". */
export function outcomeText(outcome: AuthOutcome): string {
  const method = outcome.method ? ` (${methodLabel(outcome.method)})` : "";
  if (outcome.result === "success") return `EAP-Success${method}`;
  if (outcome.result === "failure") {
    const retry = outcome.retryIn ? `, retry in ${formatDuration(outcome.retryIn)}` : "";
    return `EAP-Failure${method}${retry}`;
  }
  return "No authenticator answered";
}

/** The EAP method a device is set to run: its profile's, when its spec or the profile turns 802.1X on. */
export function configuredMethod(spec: Pick<DeviceSpec, "dot1x">, profile: ProfileSummary | undefined): string | null {
  if (!profile?.dot1x || spec.dot1x === false) return null;
  return spec.dot1x === true || profile.dot1xEnabled ? profile.dot1x : null;
}

/** A fleet's members per 802.1X state: "2 Authorized · 1 Held" (most first), "" when none reported. */
export function authCounts(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([state, n]) => `${n} ${authState(state).label}`)
    .join(" · ");
}
