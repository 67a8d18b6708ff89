/**
 * API errors, and where a form shows them.
 *
 * The service answers 422 in two shapes: FastAPI's request validation (`detail: [{loc, msg}]`,
 * `loc` = ["body", "spec", "mac"]) and its own checks (`{detail, errors: ["x: spec.mac: ..."]}`,
 * one line per problem naming the field). `fieldErrors` maps both onto form field names.
 */
import type { ErrorBody, ValidationDetail } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** One line per problem (the service's `errors`, or FastAPI's validation messages). */
    readonly problems: readonly string[] = [],
    /** FastAPI's validation entries, when the body failed the schema. */
    readonly validation: readonly ValidationDetail[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isValidationList(value: unknown): value is ValidationDetail[] {
  return Array.isArray(value) && value.every((v) => isRecord(v) && Array.isArray(v.loc) && typeof v.msg === "string");
}

/** An ApiError from any error body the service sends (or none). */
export function toApiError(status: number, body: unknown, fallback = `HTTP ${status}`): ApiError {
  if (isRecord(body)) {
    const detail = body.detail;
    if (isValidationList(detail)) {
      const lines = detail.map((d) => `${d.loc.filter((p) => p !== "body").join(".")}: ${d.msg}`);
      return new ApiError(status, "The request is not valid", lines, detail);
    }
    const errors = Array.isArray((body as Partial<ErrorBody>).errors) ? (body as ErrorBody).errors : [];
    if (typeof detail === "string") return new ApiError(status, detail, errors);
  }
  if (typeof body === "string" && body) return new ApiError(status, body);
  return new ApiError(status, fallback);
}

/** Form field of a wire path (`spec.dhcp.address` -> `address`); the last known segment wins. */
const FIELD_OF: Record<string, string> = {
  name: "name",
  "metadata.name": "name",
  "spec.profile": "profile",
  "spec.mac": "mac",
  "spec.hostname": "hostname",
  "spec.dhcp": "address",
  "spec.dhcp.address": "address",
  "spec.dhcp.mode": "dhcpMode",
  "spec.protocols": "protocols",
  "spec.trafficInterval": "trafficInterval",
  "spec.vlan": "vlan",
  "spec.vlanPriority": "vlanPriority",
  "spec.outerVlan": "outerVlan",
  "spec.dot1x": "dot1x",
};

const PATH_RE = /\b(metadata\.name|spec(?:\.[A-Za-z][A-Za-z0-9]*)+)\b/;

export interface FieldErrors {
  /** Messages by form field name. */
  fields: Record<string, string>;
  /** Problems that name no field the form has. */
  general: string[];
}

function fieldOfPath(path: string): string | undefined {
  for (let p = path; p; p = p.slice(0, Math.max(0, p.lastIndexOf(".")))) {
    const field = FIELD_OF[p];
    if (field) return field;
    if (!p.includes(".")) break;
  }
  return undefined;
}

/** Where each problem of an error goes in a device form. */
export function fieldErrors(error: ApiError): FieldErrors {
  const out: FieldErrors = { fields: {}, general: [] };
  const put = (field: string | undefined, message: string) => {
    if (field && !(field in out.fields)) out.fields[field] = message;
    else if (field) out.fields[field] += `; ${message}`;
    else out.general.push(message);
  };
  if (error.validation.length) {
    for (const v of error.validation) {
      const path = v.loc.filter((p) => p !== "body").map(String);
      put(fieldOfPath(path.join(".")), v.msg.replace(/^Value error, /, ""));
    }
    return out;
  }
  if (error.status === 409) {
    put("name", error.message);
    return out;
  }
  for (const line of error.problems) {
    const match = PATH_RE.exec(line);
    if (!match) {
      out.general.push(line);
      continue;
    }
    const message = line.slice(match.index + match[0].length).replace(/^:\s*/, "");
    put(fieldOfPath(match[1]!), message || line);
  }
  if (!error.problems.length) out.general.push(error.message);
  return out;
}

/** Problems of an import, by entry number (`entry 3 (cam_1): mac: ...`); lines naming no entry under 0. */
export function importErrors(error: ApiError): Map<number, string[]> {
  const byEntry = new Map<number, string[]>();
  const lines = error.problems.length ? error.problems : [error.message];
  for (const line of lines) {
    const match = /^entry (\d+)\b(?: \([^)]*\))?:?\s*(.*)$/.exec(line);
    const index = match ? Number(match[1]) : 0;
    const list = byEntry.get(index) ?? [];
    list.push(match ? match[2] || line : line);
    byEntry.set(index, list);
  }
  return byEntry;
}
