/**
 * Import a JSON or YAML file: pick or drop it, see what it holds, import it all or nothing.
 * The preview is read here; validation is the service's: a dry run as soon as the file is read
 * says what would change, or shows its errors per entry before anything is imported.
 */
import { useState } from "react";
import { ApiError, importErrors } from "../../api/errors";
import type { ImportResult } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { ImportParseError, type ParsedImport, parseImport } from "../../lib/importFile";
import { Button } from "../common/Button";
import { Dialog } from "../common/Dialog";
import { DropZone } from "./DropZone";
import { ImportPreview } from "./ImportPreview";

export interface ImportModalProps {
  onClose: () => void;
  onImported: (result: ImportResult) => void;
}

interface Chosen {
  name: string;
  text: string;
  parsed: ParsedImport | null;
  parseError: string | null;
}

export function ImportModal({ onClose, onImported }: ImportModalProps) {
  const { api } = useTab();
  const [file, setFile] = useState<Chosen | null>(null);
  const [errors, setErrors] = useState<Map<number, string[]> | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [check, setCheck] = useState<"checking" | ImportResult | null>(null);

  const choose = async (picked: File) => {
    setErrors(null);
    setFailure(null);
    setCheck(null);
    const text = await picked.text();
    let parsed: ParsedImport;
    try {
      parsed = parseImport(text);
    } catch (exc) {
      const message = exc instanceof ImportParseError ? exc.message : String(exc);
      setFile({ name: picked.name, text, parsed: null, parseError: message });
      return;
    }
    setFile({ name: picked.name, text, parsed, parseError: null });
    setCheck("checking");
    try {
      setCheck(await api.importText(text, parsed.contentType, true));
    } catch (exc) {
      setCheck(null);
      if (exc instanceof ApiError && exc.status === 422) setErrors(importErrors(exc));
      else setFailure(exc instanceof Error ? exc.message : String(exc));
    }
  };

  const submit = async () => {
    if (!file?.parsed) return;
    setBusy(true);
    setErrors(null);
    setFailure(null);
    try {
      onImported(await api.importText(file.text, file.parsed.contentType));
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 422) setErrors(importErrors(exc));
      else setFailure(exc instanceof Error ? exc.message : String(exc));
    } finally {
      setBusy(false);
    }
  };

  const count = file?.parsed?.entries.length ?? 0;
  const general = errors?.get(0) ?? [];
  const problemCount = errors ? [...errors.values()].reduce((n, lines) => n + lines.length, 0) : 0;
  return (
    <Dialog
      title="Import devices"
      onClose={onClose}
      size="large"
      footer={
        <>
          <Button onClick={onClose}>{errors ? "Close" : "Cancel"}</Button>
          <Button
            variant="primary"
            icon="upload"
            disabled={!count || busy || check === "checking" || errors !== null}
            onClick={() => void submit()}
          >
            {busy ? "Importing…" : `Import ${count || ""} ${count === 1 ? "entry" : "entries"}`.replace("  ", " ")}
          </Button>
        </>
      }
    >
      <DropZone fileName={file?.name ?? null} onFile={(f) => void choose(f)} />
      {file?.parseError && (
        <div className="iot-callout iot-callout--error" role="alert">
          {file.parseError}
        </div>
      )}
      {check !== null && check !== "checking" && !errors && (
        <div className="iot-callout" role="status" data-testid="import-check">
          {accepted(check)}
        </div>
      )}
      {errors && (
        <div className="iot-callout iot-callout--error" role="alert" data-testid="import-errors">
          <strong>Nothing can be imported: the file has {problemCount} problem{problemCount === 1 ? "" : "s"}.</strong>
          {general.length > 0 && (
            <ul>
              {general.map((line, i) => (
                <li key={i}>{line}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {failure && (
        <div className="iot-callout iot-callout--error" role="alert">
          {failure}
        </div>
      )}
      {file?.parsed && <ImportPreview parsed={file.parsed} errors={errors} />}
    </Dialog>
  );
}

function accepted(check: ImportResult): string {
  const created = check.created?.length ?? 0;
  const updated = check.updated?.length ?? 0;
  const plural = created + updated === 1 ? "" : "s";
  return `The service accepts this file: it would create ${created} and update ${updated} resource${plural}.`;
}
