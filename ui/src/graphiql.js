// GraphiQL for the lineagegraph API, bundled so that it needs no CDN.
// Queries go to the page's own URL (/graphql); put a bearer token in the
// Headers tab: {"Authorization": "Bearer lgt_..."}.
import { GraphiQL } from "graphiql";
import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

const endpoint = window.location.pathname.replace(/\/+$/, "") || "/graphql";

async function fetcher(params, options) {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      ...(options?.headers ?? {}),
    },
    body: JSON.stringify(params),
    credentials: "same-origin",
  });
  return response.json();
}

const defaultQuery = `# lineagegraph: where did this come from, what breaks if I change it.
# Add {"Authorization": "Bearer <token>"} in Headers unless anonymous reads are on.
query Stats {
  stats { nodeCount edgeCount nodesByKind { kind count } }
}
`;

createRoot(document.getElementById("graphiql")).render(
  createElement(GraphiQL, { fetcher, defaultQuery }),
);
