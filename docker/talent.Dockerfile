# syntax=docker/dockerfile:1
# Image of zhanli_talent. Build from the repository root (the context must hold shared/ and services/talent/):
#   docker build -f docker/talent.Dockerfile -t zhanli/talent:0.1.0 .
# Third-party packages come only from services/talent/requirements.txt (hashed, this member's own
# lock), so an import the member does not declare fails here, not at a customer's site.
# The local packages (zhanli_shared, zhanli_talent) are plain source trees on PYTHONPATH:
# no build backend in the image and nothing resolved beyond the lock.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv
COPY services/talent/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt
COPY shared/src/zhanli_shared /app/src/zhanli_shared
COPY services/talent/src/zhanli_talent /app/src/zhanli_talent
# Bytecode now: the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q /app/src

FROM ${PYTHON_IMAGE} AS runtime
# LightGBM's manylinux wheel links the OpenMP runtime, which the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 zhanli \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin zhanli
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/src /app/src
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ZHANLI_HOST=0.0.0.0 \
    ZHANLI_TALENT_PORT=8001 \
    ZHANLI_VAR_DIR=/tmp/zhanli
WORKDIR /app
USER 10001:10001
EXPOSE 8001
ENTRYPOINT ["python", "-m", "zhanli_talent"]
CMD ["serve"]
