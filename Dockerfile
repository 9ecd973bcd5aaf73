# One image for every service of docker-compose.yml: the Dagster code location (which also runs the
# run workers), webserver, daemon, the Celery workers that execute the steps (`storeuptime worker`),
# the report API and the one-shot schema migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, exactly the locked set with their hashes (own layer: code changes do not
# reinstall pandas and Dagster). The lock holds the dev tools too; they cost ~60 MB and keep the
# image on the very versions the tests passed with.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY storeuptime_pipeline ./storeuptime_pipeline
RUN pip install --no-deps --no-build-isolation .

# Instance and workspace files; DAGSTER_HOME holds the project's dagster.yaml (its values are all
# environment variables, set by docker-compose.yml).
COPY dagster.yaml workspace.yaml ./
COPY deploy/workspace.docker.yaml ./deploy/workspace.docker.yaml
ENV STOREUPTIME_HOME=/app \
    DAGSTER_HOME=/opt/dagster/home \
    STOREUPTIME_DATA_DIR=/data/incoming \
    STOREUPTIME_REPORTS_DIR=/data/reports

# Not root; the folders exist in the image with the right owner, so named volumes mounted on them
# start out writable by this user.
RUN useradd --create-home --uid 1000 storeuptime \
    && mkdir -p "$DAGSTER_HOME" /data/incoming /data/reports \
    && cp dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R storeuptime:storeuptime "$DAGSTER_HOME" /data /app
USER storeuptime

EXPOSE 3000 4000 8000
CMD ["storeuptime", "--help"]
