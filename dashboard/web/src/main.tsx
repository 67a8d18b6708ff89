/** The standalone shell: the tab alone on a page, served by the dashboard at `/`, talking to its own origin. */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { IoTDevicesTab } from "./IoTDevicesTab";
import { takeToken } from "./shell/token";
import "./styles/shell.css";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <IoTDevicesTab apiBaseUrl="" token={takeToken()} title="IoT Devices" />
    </StrictMode>,
  );
}
