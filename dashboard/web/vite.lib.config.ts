// The library build: `IoTDevicesTab` for a host React application (dist/lib). React, Recharts and
// TanStack stay external: the host installs them once.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import pkg from "./package.json" with { type: "json" };

const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)];

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist/lib",
    emptyOutDir: false,
    sourcemap: true,
    lib: { entry: "src/index.ts", formats: ["es"], fileName: "iot-devices-tab", cssFileName: "iot-devices-tab" },
    rollupOptions: {
      external: (id) => external.some((name) => id === name || id.startsWith(`${name}/`)),
    },
  },
});
