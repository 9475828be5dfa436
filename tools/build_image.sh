#!/usr/bin/env bash
# Build the faceweave container image with docker (a Docker host) or podman (no daemon needed).
#
#   tools/build_image.sh                 # CPU image  -> faceweave:cpu   (Dockerfile)
#   tools/build_image.sh --cuda          # CUDA image -> faceweave:cuda  (Dockerfile.cuda)
#   tools/build_image.sh --engine podman --tag faceweave:test --keep-jax
#
# Options:
#   --cuda            build Dockerfile.cuda (onnxruntime-gpu and the CUDA/cuDNN wheels) instead of Dockerfile
#   --tag NAME        image name (default faceweave:cpu, or faceweave:cuda with --cuda)
#   --engine NAME     docker or podman (default: docker when its daemon answers, else podman)
#   --keep-jax        keep jax, jaxlib and scipy, which mediapipe requires but faceweave never imports (+545 MB)
#   --build-arg K=V   passed on to the build (repeatable), e.g. OPENCV_WHEEL=opencv-contrib-python or EXTRAS=service,onnx
#   --make-base       (podman) build the base image from Debian packages with mmdebstrap, even if one exists
#   --no-cache        rebuild every layer
#   -h, --help        this text
#
# Environment:
#   BASE_IMAGE        base image (default python:3.11-slim-bookworm). With podman, when it is neither present nor
#                     pullable (no registry), it is made from Debian bookworm packages with mmdebstrap and imported
#                     under that name; the Dockerfiles only need `python3` with its venv module on PATH.
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_CERT   as for pip; read from `pip config` too. file:// indexes are
#                     skipped (a build cannot see them). A CA bundle (PIP_CERT / pip's `cert`) goes to the build as
#                     the secret pip_cert, for TLS-intercepting proxies; it is not stored in the image.
#   PODMAN_FLAGS      extra podman build flags; default "--runtime runc --ulimit nofile=1024:1024 --ulimit
#                     nproc=1024:1024" (runc only when installed): crun and podman's default limits fail on some
#                     cgroup v1 hosts. Set it empty where podman works as is.
set -euo pipefail

cd "$(dirname "$0")/.."

cuda=0
tag=""
engine=""
extra_args=()
keep_jax=0
make_base=0
base_image="${BASE_IMAGE:-python:3.11-slim-bookworm}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --cuda) cuda=1 ;;
        --tag) tag="$2"; shift ;;
        --engine) engine="$2"; shift ;;
        --keep-jax) keep_jax=1 ;;
        --build-arg) extra_args+=(--build-arg "$2"); shift ;;
        --make-base) make_base=1 ;;
        --no-cache) extra_args+=(--no-cache) ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

dockerfile=Dockerfile
[ "$cuda" = 1 ] && dockerfile=Dockerfile.cuda
[ -n "$tag" ] || { [ "$cuda" = 1 ] && tag=faceweave:cuda || tag=faceweave:cpu; }

if [ -z "$engine" ]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null; then
        engine=podman
    else
        echo "neither a running docker daemon nor podman found; install one (Debian: apt-get install podman)" >&2
        exit 2
    fi
fi

# pip settings the build should share with this machine: env first, then `pip config`.
pip_setting() {  # $1: environment variable, $2: pip config key
    local value="${!1:-}"
    if [ -z "$value" ] && command -v python3 >/dev/null; then
        value="$(python3 -m pip config get "$2" 2>/dev/null || true)"
    fi
    # a build cannot read this machine's file:// indexes
    tr -s ' ' '\n' <<<"$value" | grep -v -e '^file:' -e '^$' | paste -sd ' ' - || true
}

build_args=(--build-arg "BASE_IMAGE=$base_image")
index_url="$(pip_setting PIP_INDEX_URL global.index-url)"
extra_index_url="$(pip_setting PIP_EXTRA_INDEX_URL global.extra-index-url)"
[ -n "$index_url" ] && build_args+=(--build-arg "PIP_INDEX_URL=$index_url")
[ -n "$extra_index_url" ] && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra_index_url")
[ "$keep_jax" = 1 ] && build_args+=(--build-arg "DROP_UNUSED=")
build_args+=("${extra_args[@]}")
cert="${PIP_CERT:-}"
if [ -z "$cert" ] && command -v python3 >/dev/null; then
    cert="$(python3 -m pip config get global.cert 2>/dev/null || true)"
fi
[ -n "$cert" ] && [ -f "$cert" ] && build_args+=(--secret "id=pip_cert,src=$cert")

# podman without a registry: a python:3.11-slim-bookworm stand-in made from Debian bookworm packages.
make_podman_base() {
    command -v mmdebstrap >/dev/null || {
        echo "no base image '$base_image' and no mmdebstrap to make one (apt-get install mmdebstrap)" >&2
        exit 2
    }
    local work
    work="$(mktemp -d /tmp/faceweave-base.XXXXXX)"
    echo "making $base_image from Debian bookworm packages (mmdebstrap, in $work)"
    # python3-venv brings ensurepip's pip wheel, so the image's venv has pip without Debian's python3-pip.
    # shellcheck disable=SC2016  # "$1" is the hook's argument (the root folder), expanded by mmdebstrap
    mmdebstrap --variant=minbase --include=python3.11,python3-venv,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$work/rootfs.tar" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$work/rootfs.tar" "$base_image"
    rm -rf "$work"
}

start=$(date +%s)
if [ "$engine" = podman ]; then
    default_flags="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
    command -v runc >/dev/null && default_flags="--runtime runc $default_flags"
    read -r -a podman_flags <<<"${PODMAN_FLAGS-$default_flags}"
    if [ "$make_base" = 1 ] || ! { podman image exists "$base_image" || podman pull "$base_image" 2>/dev/null; }; then
        make_podman_base
    fi
    # --format docker keeps HEALTHCHECK, which the OCI image format has no field for
    podman build --format docker "${podman_flags[@]}" "${build_args[@]}" -f "$dockerfile" -t "$tag" .
    podman images "$tag"
else
    DOCKER_BUILDKIT=1 docker build "${build_args[@]}" -f "$dockerfile" -t "$tag" .
    docker images "$tag"
fi
echo "built $tag with $engine from $dockerfile in $(($(date +%s) - start)) s"
