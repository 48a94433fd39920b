// Builds the pages the lineagegraph API serves. Everything GraphiQL needs
// (scripts, styles, Monaco workers, fonts) is bundled into dist/, so the page
// works offline: the API serves dist/ under /ui/ and graphiql.html at /graphql.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/ui/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Monaco is large; that is expected for an editor page and not a warning here.
    chunkSizeWarningLimit: 8000,
    rollupOptions: {
      input: { graphiql: resolve(import.meta.dirname, "graphiql.html") },
      onwarn(warning, warn) {
        // Libraries mark React server/client boundaries with "use client"; a
        // browser bundle has no such boundary, so the directive is moot here.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  worker: { format: "es" },
});
