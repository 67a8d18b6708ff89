/**
 * Reading an import file for its preview: the same entry rules as the service's `importing._entries`
 * (JSON or multi-document YAML; a list, a `kind: List`, the brief's `{"devices": [...]}`), so entry
 * numbers in the preview match the ones in the service's error lines. Validation is the service's.
 */
import { parseAllDocuments } from "yaml";
import { isRecord } from "./live/messages";

export interface PreviewEntry {
  /** 1-based, as the service counts. */
  index: number;
  kind: "IoTDevice" | "IoTFleet" | "device (brief format)" | "unknown";
  name: string;
  /** Profile, or the brief's vendor. */
  profile: string;
  mac: string;
  /** Replicas of a fleet, the DHCP mode of a device. */
  detail: string;
}

export interface ParsedImport {
  format: "json" | "yaml";
  contentType: string;
  entries: PreviewEntry[];
}

export class ImportParseError extends Error {}

function documents(text: string): { format: "json" | "yaml"; docs: unknown[] } {
  const first = text.trimStart()[0];
  if (first === "{" || first === "[") {
    try {
      return { format: "json", docs: [JSON.parse(text)] };
    } catch (exc) {
      throw new ImportParseError(`Not valid JSON: ${exc instanceof Error ? exc.message : String(exc)}`);
    }
  }
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) throw new ImportParseError(`Not valid YAML: ${error.message}`);
  }
  return { format: "yaml", docs: list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined) };
}

function entriesOf(docs: unknown[]): unknown[] {
  const entries: unknown[] = [];
  for (const doc of docs) {
    if (Array.isArray(doc)) entries.push(...doc);
    else if (isRecord(doc) && doc.kind === "List" && Array.isArray(doc.items)) entries.push(...doc.items);
    else if (isRecord(doc) && !("apiVersion" in doc) && Array.isArray(doc.devices)) {
      entries.push(...doc.devices, ...(Array.isArray(doc.fleets) ? doc.fleets : []));
    } else entries.push(doc);
  }
  return entries;
}

const text = (value: unknown): string => (typeof value === "string" || typeof value === "number" ? String(value) : "");

function preview(entry: unknown, index: number): PreviewEntry {
  if (!isRecord(entry)) return { index, kind: "unknown", name: "", profile: "", mac: "", detail: "not an object" };
  const meta = isRecord(entry.metadata) ? entry.metadata : {};
  const spec = isRecord(entry.spec) ? entry.spec : {};
  if (!("apiVersion" in entry) && ("id" in entry || "vendor" in entry)) {
    return {
      index,
      kind: "device (brief format)",
      name: text(entry.id),
      profile: text(entry.profile) || text(entry.vendor),
      mac: text(entry.mac),
      detail: entry.dhcp_mode === "static" ? `static ${text(entry.static_ip) || text(entry.ip)}`.trim() : "auto",
    };
  }
  if (entry.kind === "IoTFleet") {
    const template = isRecord(spec.template) ? spec.template : {};
    return {
      index,
      kind: "IoTFleet",
      name: text(meta.name),
      profile: text(template.profile),
      mac: text(spec.macOui),
      detail: `${text(spec.replicas) || "1"} replicas`,
    };
  }
  const dhcp = isRecord(spec.dhcp) ? spec.dhcp : {};
  return {
    index,
    kind: entry.kind === "IoTDevice" ? "IoTDevice" : "unknown",
    name: text(meta.name),
    profile: text(spec.profile),
    mac: text(spec.mac),
    detail: dhcp.mode === "static" ? `static ${text(dhcp.address)}` : "auto",
  };
}

/** The entries of an import file, or an ImportParseError saying why it cannot be read. */
export function parseImport(content: string): ParsedImport {
  const { format, docs } = documents(content);
  const entries = entriesOf(docs).map((entry, i) => preview(entry, i + 1));
  if (!entries.length) throw new ImportParseError("The file holds no device or fleet.");
  return { format, contentType: format === "json" ? "application/json" : "application/yaml", entries };
}
