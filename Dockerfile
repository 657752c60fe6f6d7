# Chinwag's image: the web app built with Node, then the server on a slim Python image,
# running as an unprivileged user. Its RUN steps call the scripts `make setup` (and so CI)
# runs: scripts/build-web and scripts/install-python. See docs/deploy.md ("Docker"); this
# file was checked statically but never built where it was written (no Docker engine).

# ---- 1. the web app ----------------------------------------------------------------------------
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY frontend frontend
COPY scripts/build-web scripts/build-web
RUN bash scripts/build-web

# ---- 2. the server -----------------------------------------------------------------------------
FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    CHINWAG_DATA_DIR=/data
RUN groupadd --system --gid 10001 chinwag \
    && useradd --system --uid 10001 --gid chinwag --home-dir /app --shell /usr/sbin/nologin chinwag \
    && mkdir -p /app /data && chown chinwag:chinwag /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src src
COPY --from=web /src/src/chinwag/static src/chinwag/static
COPY scripts/install-python scripts/install-python
COPY deploy/healthcheck.py healthcheck.py
RUN bash scripts/install-python
USER chinwag
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http://127.0.0.1:8000/readyz"]
CMD ["chinwag", "serve", "--host", "0.0.0.0", "--port", "8000"]
