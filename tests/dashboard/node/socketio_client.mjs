// A Socket.io client as the brief's orchestrator writes one (npm socket.io-client), driven by a test:
// argv: <url> <token|-> [auth|header]; stdin: JSON lines {"emit": event, "data": ...}; stdout: JSON
// lines {"event": name, "data": ...} for every event received, plus "connect" and "connect_error".
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(process.env.SOCKETIO_CLIENT_FROM);
const { io } = require("socket.io-client");

const [url, token, how = "auth"] = process.argv.slice(2);
const options = { reconnection: false, transports: ["polling", "websocket"] };
if (token !== "-") {
  if (how === "header") options.extraHeaders = { Authorization: `Bearer ${token}` };
  else options.auth = { token };
}
const socket = io(url, options);
const transport = () => socket.io.engine?.transport?.name ?? null;
const print = (event, data) => process.stdout.write(JSON.stringify({ event, data, transport: transport() }) + "\n");

socket.on("connect", () => print("connect", null));
socket.on("connect_error", (error) => print("connect_error", { message: error.message }));
socket.onAny((event, data) => print(event, data));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.emit === "subscribe") {
    socket.emit("subscribe", command.data, (ack) => print("subscribe:ack", ack));
  } else {
    socket.emit(command.emit, command.data);
  }
}).on("close", () => { socket.close(); process.exit(0); });
