# syntax=docker/dockerfile:1
# The lineagegraph API server, installed from uv.lock (exact versions, no dev tools).
#   docker build -t lineagegraph .
#   docker run -p 8765:8765 -e LINEAGEGRAPH_STORE_URI=bolt://neo4j:7687 ... lineagegraph

# ---- the web UI (GraphiQL and the lineage explorer): static files ----------------
FROM node:22-bookworm-slim AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

# ---- the Python environment, from the lock file ------------------------------------
FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (a layer that changes only with the lock), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY lineagegraph/ ./lineagegraph/
RUN uv sync --frozen --no-dev --no-editable

# ---- the runtime image -------------------------------------------------------------------
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /data lineagegraph \
    && mkdir -p /data && chown lineagegraph /data
COPY --from=build /app/.venv /app/.venv
COPY --from=ui /ui/dist /app/ui/dist
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LINEAGEGRAPH_HOST=0.0.0.0 \
    LINEAGEGRAPH_PORT=8765 \
    LINEAGEGRAPH_DATA_DIR=/data \
    LINEAGEGRAPH_UI_DIR=/app/ui/dist
WORKDIR /data
USER lineagegraph
EXPOSE 8765
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/readyz', timeout=5)"]
CMD ["lineagegraph", "serve"]
