# s5vec host service. Build: docker build -t s5vec . ; run: see docs/deployment.md.
# Dependencies come from uv.lock only (uv sync --frozen): the image has what CI tested.

FROM python:3.11-slim AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The same uv the Makefile pins.
RUN pip install --no-cache-dir "uv==0.13.8"
# Runtime dependencies only (no dev or bench group), in their own layer: source edits do
# not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY src ./src
# --no-editable: the venv holds s5vec itself, so the runtime stage needs no source tree.
RUN uv sync --frozen --no-default-groups --no-editable

FROM python:3.11-slim
RUN groupadd --system --gid 10001 s5vec \
    && useradd --system --uid 10001 --gid s5vec --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin s5vec \
    && mkdir -p /data/s5 \
    && chown -R s5vec:s5vec /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    S5VEC_HOST=0.0.0.0 \
    S5VEC_PORT=8080 \
    S5VEC_DATA_DIR=/data \
    S5_LOCAL_DIR=/data/s5 \
    S5VEC_LOG_FORMAT=json
WORKDIR /data
USER 10001:10001
EXPOSE 8080
# Host key (unless HOST_PRIVATE_KEY is set), index spill files, and the local store.
VOLUME ["/data"]
# No curl in slim images: Python itself probes /health (503 = unhealthy; 200 = healthy or degraded).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('S5VEC_PORT', '8080'), timeout=4)"]
# s5vec serve stops cleanly on SIGTERM (docker stop): every socket gets close code 1001.
ENTRYPOINT ["s5vec"]
CMD ["serve"]
