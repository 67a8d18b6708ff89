// The standalone shell (index.html -> src/main.tsx), served by the dashboard at `/`, and the tests.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const service = process.env.IOTEMU_DASHBOARD_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1200 },
  server: {
    proxy: {
      "/api": service,
      "/ws": { target: service.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    css: false,
  },
});
