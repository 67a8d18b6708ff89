// `npm run generate`: dump the dashboard's OpenAPI schema with its Python app, then generate the
// TypeScript types the client uses (src/api/schema.gen.ts, not committed), and the live protocol's
// types (src/lib/live/protocol.gen.ts, committed).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const venvPython = resolve(web, "../../.venv/bin/python");
const python = process.env.PYTHON ?? (existsSync(venvPython) ? venvPython : "python3");
const schema = join(web, "openapi.json");
const output = join(web, "src/api/schema.gen.ts");

execFileSync(python, [join(web, "scripts/dump_openapi.py"), schema], { stdio: "inherit" });
execFileSync(join(web, "node_modules/.bin/openapi-typescript"), [schema, "-o", output], { stdio: "inherit" });

// The live protocol (emulator messages, /ws frames): its output is checked in, and
// tests/dashboard/test_protocol_contract.py fails when it differs from what this makes.
const protocol = join(web, "protocol.openapi.json");
const protocolOutput = join(web, "src/lib/live/protocol.gen.ts");
execFileSync(python, [join(web, "scripts/dump_protocol.py"), protocol], { stdio: "inherit" });
execFileSync(join(web, "node_modules/.bin/openapi-typescript"), [protocol, "--default-non-nullable", "false", "-o", protocolOutput], { stdio: "inherit" });
