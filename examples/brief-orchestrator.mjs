// An orchestrator written from the seed brief alone: its REST calls (POST /api/devices/{id}/start and
// /stop) and its Socket.io events (device:started, device:stats, device:stopped, request:stats ->
// stats:response), with the dashboard's credential (never in the URL).
//
//   npm install socket.io-client
//   IOTEMU_URL=http://127.0.0.1:8080 IOTEMU_TOKEN_FILE=/var/lib/iotemu/dashboard-token \
//     node brief-orchestrator.mjs camera_01 plug_02
//
// Lists the devices, starts the given ones (all when none is given), waits until each has reported
// started and stats with an address, asks each for its stats, stops them, and prints one JSON summary.
// Exit status 1 (with the reason on stderr) when a step does not happen within IOTEMU_TIMEOUT seconds.
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";

const url = process.env.IOTEMU_URL ?? "http://127.0.0.1:8080";
const token = (process.env.IOTEMU_TOKEN ?? readFileSync(process.env.IOTEMU_TOKEN_FILE, "utf8")).trim();
const timeoutMs = Number(process.env.IOTEMU_TIMEOUT ?? 60) * 1000;
const headers = { Authorization: `Bearer ${token}` };

async function api(method, path) {
  const answer = await fetch(`${url}${path}`, { method, headers });
  if (!answer.ok) throw new Error(`${method} ${path}: HTTP ${answer.status} ${await answer.text()}`);
  return answer.json();
}

/** Resolves with the first `event` payload for which `match` holds, or fails after the timeout. */
function waitFor(socket, event, match, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const listener = (message) => {
      if (!match(message)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(message);
    };
    socket.on(event, listener);
  });
}

const idOf = (device) => device.annotations?.["iotemu.io/seed-id"] ?? device.name;

async function main() {
  const socket = io(url, { auth: { token }, reconnection: false });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (error) => reject(new Error(`Socket.io: ${error.message}`)));
  });
  try {
    const listed = (await api("GET", "/api/devices")).map(idOf);
    const wanted = process.argv.length > 2 ? process.argv.slice(2) : listed;
    const summary = { listed, started: [], stats: {}, responses: {}, stopped: [] };

    for (const id of wanted) {
      const started = waitFor(socket, "device:started", (m) => m.device_id === id, `${id} started`);
      const addressed = waitFor(socket, "device:stats", (m) => m.device_id === id && m.stats?.current_ip,
        `${id} stats with an address`);
      await api("POST", `/api/devices/${encodeURIComponent(id)}/start`);
      await started;
      summary.started.push(id);
      const stats = (await addressed).stats;
      summary.stats[id] = { current_ip: stats.current_ip, packets_sent: stats.packets_sent };
    }
    for (const id of wanted) {
      const response = waitFor(socket, "stats:response", (m) => m.device_id === id, `${id} stats:response`);
      socket.emit("request:stats", id);
      summary.responses[id] = (await response).stats;
    }
    for (const id of wanted) {
      const stopped = waitFor(socket, "device:stopped", (m) => m.device_id === id, `${id} stopped`);
      await api("POST", `/api/devices/${encodeURIComponent(id)}/stop`);
      await stopped;
      summary.stopped.push(id);
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    socket.close();
  }
}

main().catch((error) => {
  process.stderr.write(`brief-orchestrator: ${error.message}\n`);
  process.exit(1);
});
