# faceweave, CPU image: the CLI and `faceweave serve` (REST API + web UI) on the embedded models.
#
#   docker build -t faceweave:cpu .          # or: tools/build_image.sh (docker, or podman where there is no daemon)
#   docker run -p 8000:8000 -e FACEWEAVE_API_KEYS=... -v faceweave-data:/data faceweave:cpu
#
# Build arguments:
#   BASE_IMAGE   a Debian bookworm image with python3 (3.11) and its venv module; python:3.11-slim-bookworm by
#                default. Only `python3` on PATH is used, so Debian's /usr/bin/python3 works as well as the
#                official image's /usr/local/bin/python3.
#   EXTRAS       the faceweave extras to install ("service"; "service,onnx" adds the neural plug-ins on the CPU).
#   DROP_UNUSED  packages removed after the install. mediapipe 0.10.21 requires jax and jaxlib, which only its
#                LLM-weight converter (mediapipe.tasks.python.genai) imports; scipy, ml_dtypes and opt_einsum come
#                only with them. Removing them saves 545 MB of image. Empty keeps everything.
#   OPENCV_WHEEL opencv-contrib-python-headless by default: mediapipe's opencv-contrib-python is swapped for the
#                headless build of the same version (the same cv2 modules without the GUI), which needs no libGL,
#                glib or Qt: 385 MB less. `opencv-contrib-python` keeps mediapipe's wheel and installs
#                libgl1 and libglib2.0-0 (needed only by `faceweave live --window`: no display in a container).
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL   a package mirror, when PyPI is not reached directly.
# A TLS-intercepting proxy's CA bundle can be handed to pip as the build secret `pip_cert`
# (`--secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt`); it is used for the build only, never stored.

ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG OPENCV_WHEEL=opencv-contrib-python-headless

FROM ${BASE_IMAGE} AS build
ARG EXTRAS=service
ARG DROP_UNUSED="jax jaxlib scipy ml_dtypes opt_einsum"
ARG OPENCV_WHEEL
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md LICENSE /src/
COPY faceweave /src/faceweave
RUN --mount=type=secret,id=pip_cert \
    set -eu; \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /opt/venv/bin/pip install --upgrade pip; \
    /opt/venv/bin/pip install "/src[${EXTRAS}]"; \
    if [ -n "${DROP_UNUSED}" ]; then /opt/venv/bin/pip uninstall --yes ${DROP_UNUSED}; fi; \
    if [ "${OPENCV_WHEEL}" != opencv-contrib-python ]; then \
        version="$(/opt/venv/bin/pip show opencv-contrib-python | sed -n 's/^Version: //p')"; \
        /opt/venv/bin/pip uninstall --yes opencv-contrib-python; \
        /opt/venv/bin/pip install --no-deps "${OPENCV_WHEEL}==${version}"; \
    fi

FROM ${BASE_IMAGE}
ARG OPENCV_WHEEL
# Only the GUI OpenCV wheel links system libraries (libGL, glib); MediaPipe, dlib-bin and PyAV bundle theirs.
RUN if [ "${OPENCV_WHEEL}" = opencv-contrib-python ]; then \
        apt-get update \
        && apt-get install --yes --no-install-recommends libgl1 libglib2.0-0 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 faceweave \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/faceweave faceweave \
    && mkdir -p /data/service /data/models \
    && chown -R faceweave:faceweave /data \
    && chmod 0700 /data/service
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FACEWEAVE_MODEL_DIR=/data/models \
    FACEWEAVE_DATA_DIR=/data/service \
    MPLCONFIGDIR=/tmp/matplotlib
USER faceweave
WORKDIR /home/faceweave
# Fail the build, not the first request, when a native library is missing.
RUN python -c "import cv2, dlib, av, mediapipe.python.solutions.face_mesh, faceweave.cli" && rm -rf /tmp/matplotlib
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["faceweave", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data/service"]
