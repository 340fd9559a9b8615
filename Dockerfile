# syntax=docker/dockerfile:1
# Multi-stage: build a wheel, install it into a slim runtime as a non-root user.
# (The image is completed with the daemon and the manifests in later issues.)

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ggwatch ./ggwatch
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
LABEL org.opencontainers.image.title="ggwatch" \
      org.opencontainers.image.description="Compliance daemon for AWS IoT Greengrass V2 fleets" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /tmp
EXPOSE 8419
ENTRYPOINT ["ggwatch"]
CMD ["--help"]
