import type { ParsedImport } from "../../lib/importFile";
import "../../styles/base.css";
import "./preview.css";

export interface ImportPreviewProps {
  parsed: ParsedImport;
  /** The service's problems by entry number (0: not tied to an entry). */
  errors: Map<number, string[]> | null;
}

/** What the file will create, one line per entry, with that entry's problems under it. */
export function ImportPreview({ parsed, errors }: ImportPreviewProps) {
  const devices = parsed.entries.filter((e) => e.kind !== "IoTFleet").length;
  const fleets = parsed.entries.length - devices;
  return (
    <div className="iot-preview">
      <div className="iot-preview__summary">
        {parsed.format.toUpperCase()} · {devices} device{devices === 1 ? "" : "s"}
        {fleets ? ` · ${fleets} fleet${fleets === 1 ? "" : "s"}` : ""}
      </div>
      <div className="iot-preview__table" role="region" aria-label="Entries to import" tabIndex={0}>
        <table className="iot-table">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">Profile / vendor</th>
              <th scope="col">MAC</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {parsed.entries.map((entry) => {
              const problems = errors?.get(entry.index);
              return (
                <tr key={entry.index} className={problems ? "is-invalid" : undefined} data-entry={entry.index}>
                  <td>{entry.index}</td>
                  <td>{entry.kind}</td>
                  <td className="iot-mono">{entry.name || "–"}</td>
                  <td>{entry.profile || "–"}</td>
                  <td className="iot-mono">{entry.mac || "auto"}</td>
                  <td>
                    {entry.detail}
                    {problems && (
                      <ul className="iot-entry-errors">
                        {problems.map((p, i) => (
                          <li key={i}>{p}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
