# syntax=docker/dockerfile:1
#
# ggwatch container image.
#
#   docker build -t ggwatch:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --rm --read-only --tmpfs /tmp -p 8419:8419 \
#     -e AWS_REGION=us-west-2 ggwatch:0.1.0            # = ggwatch run
#
# Stage 1 builds ggwatch's wheel and installs it, with its dependencies, into a virtual
# environment without pip. Stage 2 is the slim Python base plus that environment, copied as
# is: no compiler, no pip cache, no wheels, no source tree, and no RUN step at all.
# The process runs as the numeric user 10001:10001 (no /etc/passwd entry needed: HOME is /tmp),
# so Kubernetes' runAsNonRoot can verify it, and writes nothing outside /tmp, so the root
# filesystem can be mounted read-only (mount a tmpfs or emptyDir at /tmp).

FROM python:3.12-slim AS build

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ggwatch ./ggwatch

# `pip --python` installs into the venv with the base image's pip, so the venv never gets one.
RUN python -m venv --without-pip /opt/ggwatch \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip --python /opt/ggwatch/bin/python install --no-cache-dir /wheels/ggwatch-*.whl


FROM python:3.12-slim

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="ggwatch" \
      org.opencontainers.image.description="Compliance daemon for AWS IoT Greengrass V2 fleets: discontinued and deleted component versions in use, stale deployments" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12-slim"

ENV PATH="/opt/ggwatch/bin:${PATH}" \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Owned by root and read-only for the process: the code cannot be changed at run time.
COPY --from=build /opt/ggwatch /opt/ggwatch

USER 10001:10001
WORKDIR /tmp
EXPOSE 8419

# No HEALTHCHECK: Kubernetes (liveness /healthz, readiness /readyz) and ECS (the task
# definition's healthCheck) run their own.
ENTRYPOINT ["ggwatch"]
CMD ["run"]
