import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The console is served by the Cairn server at `/` (packages/server/src/http/console.ts); in `npm run dev -w
// @cairn/web` Vite proxies the API to a server on :8080.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/health": "http://127.0.0.1:8080" } },
});
