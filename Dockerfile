# QuartFeed's web image: `docker compose up` builds and runs it with MySQL
# and Redis (see docker-compose.yml).

# Bootstrap comes from the npm registry, fetched in a throwaway stage
# (without the development packages: axe-core serves the browser tests only).
FROM node:24-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHON=python
# ImageMagick's MagickWand library, which Wand loads for profile images.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagickwand-6.q16-6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The dependencies first, in a layer of their own: a change to the code does
# not reinstall them. Runtime dependencies only, pinned by the lock.
COPY pyproject.toml requirements.lock ./
COPY scripts/install-runtime.sh scripts/
RUN sh scripts/install-runtime.sh dependencies

COPY . .
RUN sh scripts/install-runtime.sh project \
    && useradd --create-home --uid 1000 quartfeed \
    && mkdir -p instance/media static/vendor/bootstrap \
    && chown -R quartfeed instance
COPY --from=assets /assets/node_modules/bootstrap/dist/css/bootstrap.min.css \
     /assets/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
     static/vendor/bootstrap/

USER quartfeed
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz', timeout=4)"]
# Bring the schema up to date, then serve with an access log.
CMD ["sh", "scripts/serve.sh"]
