# One image, three flavours chosen by build args:
#   front ends (bots + web, no torch):   --build-arg EXTRAS=bots
#   CPU worker:                          --build-arg EXTRAS=inference --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu
#   GPU worker:                          --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 (python3.11 installed below)
#                                        --build-arg EXTRAS=inference --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG EXTRAS=bots
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 STUDIO_DATA_DIR=/data
RUN if ! command -v python3.11 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip \
      && ln -sf /usr/bin/python3.11 /usr/local/bin/python && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bots bots
COPY core core
COPY inference inference
COPY storage storage
COPY cli cli
# insightface pulls the desktop opencv build, which needs libGL even when nothing is shown.
RUN case "$EXTRAS" in *inference*) apt-get update && apt-get install -y --no-install-recommends libgl1 \
      libglib2.0-0 && rm -rf /var/lib/apt/lists/*;; esac
RUN case "$EXTRAS" in *inference*) python -m pip install torch==2.13.0 --index-url "$TORCH_INDEX";; esac \
    && python -m pip install ".[$EXTRAS]"
VOLUME ["/data"]
ENTRYPOINT ["studio"]
