# mockserver as a CI sidecar: `docker run -p 8080:8080 mockserver` is healthy in about a second.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in a layer of their own: install the project's requirements from pyproject.toml with a stub
# package, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p mockserver \
    && touch mockserver/__init__.py \
    && pip install --no-cache-dir "./[postgres]" \
    && pip uninstall --yes mockserver \
    && rm -rf mockserver build ./*.egg-info

# The project itself, installed as users install it (a regular wheel install, not editable); the default
# fixtures and specs travel inside the package. /fixtures holds a copy of the defaults to mount over.
COPY mockserver ./mockserver
COPY openapi ./openapi
COPY fixtures ./fixtures
RUN pip install --no-cache-dir --no-deps . \
    && cp -r fixtures /fixtures \
    && rm -rf /app/* \
    && useradd --create-home --uid 10001 mockserver \
    && mkdir -p /data \
    && chown mockserver /data

# Configuration is only through MOCKSERVER_* variables; mount your own fixtures at /fixtures and, for state that
# survives restarts, a volume at /data with MOCKSERVER_STATE_DIR=/data; for several replicas sharing one world,
# MOCKSERVER_DATABASE_URL=postgresql://… (the postgres extra is installed).
ENV MOCKSERVER_HOST=0.0.0.0 \
    MOCKSERVER_PORT=8080 \
    MOCKSERVER_FIXTURES=/fixtures

USER 10001
EXPOSE 8080

HEALTHCHECK --interval=5s --timeout=2s --start-period=3s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MOCKSERVER_PORT', '8080') + '/ready', timeout=2)"]

CMD ["mockserver", "serve"]
