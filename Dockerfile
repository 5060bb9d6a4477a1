# QuartFeed's web image: `docker compose up` builds and runs it with MySQL
# and Redis (see docker-compose.yml).

# Bootstrap comes from the npm registry, fetched in a throwaway stage.
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# ImageMagick's MagickWand library, which Wand loads for profile images.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagickwand-6.q16-6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
# Editable, so the code runs from /app, next to its templates and migrations.
RUN pip install --no-cache-dir -c requirements.lock -e . \
    && useradd --create-home --uid 1000 quartfeed \
    && mkdir -p instance/media static/vendor/bootstrap \
    && chown -R quartfeed instance
COPY --from=assets /assets/node_modules/bootstrap/dist/css/bootstrap.min.css \
     /assets/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
     static/vendor/bootstrap/

USER quartfeed
EXPOSE 5000
# Bring the schema up to date, then serve.
CMD ["sh", "-c", "alembic upgrade head && exec hypercorn --bind 0.0.0.0:5000 --access-logfile - 'application:create_app()'"]
