#!/usr/bin/env bash
# The neural chain on an NVIDIA GPU, offline, in under 8 minutes: installs onnxruntime-gpu from a folder of wheels
# into a fresh venv, builds real-size models with random weights (SCRFD-10GF at 640², iresnet50 ArcFace at 112²,
# inswapper_128, GFPGAN v1.4 at 512²: tests/models/deep_graphs.py, the published layer lists), and times
# detect → embed → swap → enhance with the CUDA and TensorRT providers, FP32 and FP16, IOBinding on and off, at
# 720p and 1080p with one and four faces. Prints per-stage ms (adapter time and model time) and fps as JSON.
#
#   tools/gpu_wheels.sh --dest WHEELS            # where PyPI is reachable (1.65 GB; see that script)
#   tools/gpu_check.sh --wheels WHEELS           # on the GPU machine: JSON on stdout and in gpu_check.json
#   tools/gpu_check.sh --wheels WHEELS --providers cpu --depth contract    # the same path on a CPU (a check of
#                                                # the script: tiny models, onnxruntime-gpu's CPU provider)
#   tools/gpu_check.sh --no-install --providers cpu --depth contract      # with the interpreter at hand
#
# Options:
#   --wheels DIR       wheel folder from tools/gpu_wheels.sh (default $FACEWEAVE_GPU_WHEELS or
#                      ~/.cache/faceweave/gpu-wheels); nothing is downloaded
#   --providers LIST   cuda,tensorrt (default), or cpu
#   --depth D          real (default: real-size models, ~1.1 GB built in /tmp) or contract (tiny, same contracts)
#   --budget S         seconds for the measurements (default 360; cut so that the whole script ends within 8 min)
#   --out FILE         where the JSON also goes (default gpu_check.json; rewritten after every configuration)
#   --python PY        interpreter for the venv (default python3; 3.11 or 3.12, matching the wheels)
#   --venv DIR         the venv (default /tmp/faceweave-gpu-venv; made afresh)
#   --system-site      let the venv see the interpreter's packages (with gpu_wheels.sh --no-cuda-libs: CUDA 13 /
#                      cuDNN 9 wheels already installed there, e.g. a PyTorch cu130 image)
#   --no-install       no venv: run with --python as it is (it needs onnxruntime[-gpu], onnx, numpy, cv2)
#   -- ARGS            passed to tests/models/gpu_chain.py (e.g. -- --sizes 720p --faces 1 --frames 5)
#
# Staging the wheels: the folder is 1,652 MB for CPython 3.11 (onnxruntime-gpu 255.6 MB, cuDNN 516.8 MB, cuBLAS
# 444.3 MB, cuFFT 165.1 MB, ...); with gpu_wheels.sh --no-cuda-libs onnxruntime-gpu is the one large wheel. A device
# run of this workplace carries at most 64 MiB (the working tree and carried paths together), so the folder cannot
# travel with the repository: copy it to the GPU machine beforehand, or send it in parts of at most 60 MiB to a
# machine that stays warm between runs (split -b 60M; cat the parts back there).
#
# Tested here on a CPU only (no GPU lent): the install from the wheel folder, both CPU configurations, and the
# real-depth graphs through the chain; see docs/models.md, "Checking on a GPU".
set -euo pipefail
cd "$(dirname "$0")/.."

wheels=${FACEWEAVE_GPU_WHEELS:-$HOME/.cache/faceweave/gpu-wheels}
providers=cuda,tensorrt
depth=real
budget=360
out=gpu_check.json
python=python3
venv=/tmp/faceweave-gpu-venv
system_site=0
install=1
extra=()
while (($#)); do
    case "$1" in
        --wheels) wheels=$2; shift 2 ;;
        --providers) providers=$2; shift 2 ;;
        --depth) depth=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --venv) venv=$2; shift 2 ;;
        --system-site) system_site=1; shift ;;
        --no-install) install=0; shift ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

limit=480  # the whole script, seconds
started=$SECONDS
py=$python
if ((install)); then
    if ! compgen -G "$wheels/onnxruntime_gpu-*.whl" >/dev/null; then
        echo "gpu_check.sh: no onnxruntime_gpu wheel in $wheels; run tools/gpu_wheels.sh where PyPI is reachable" \
            "and copy its folder here (--wheels DIR)" >&2
        exit 2
    fi
    rm -rf "$venv"
    site_flag=()
    ((system_site)) && site_flag=(--system-site-packages)
    "$python" -m venv "${site_flag[@]}" "$venv"
    ort=onnxruntime-gpu
    compgen -G "$wheels/nvidia_cudnn*.whl" >/dev/null && ort="onnxruntime-gpu[cuda,cudnn]"
    packages=("$ort" numpy opencv-python-headless onnx protobuf)
    compgen -G "$wheels/tensorrt_cu13_libs*.whl" >/dev/null && packages+=(tensorrt-cu13-libs)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
        "${packages[@]}"
    py=$venv/bin/python
fi

# onnxruntime.preload_dlls() loads CUDA and cuDNN from NVIDIA's wheels; TensorRT's libraries need the loader path.
libs=$("$py" - <<'EOF'
import glob, site, sysconfig
roots = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
print(":".join(sorted({d for r in roots for d in glob.glob(f"{r}/nvidia/*/lib") + glob.glob(f"{r}/tensorrt_libs")})))
EOF
)
export LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$py" -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())' >&2
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.free --format=csv >&2

setup=$((SECONDS - started))
left=$((limit - setup - 75))  # model building and fp16 conversion come out of the budget; 75 s spare
((budget > left)) && budget=$left
echo "setup ${setup} s; measuring for at most ${budget} s" >&2
status=0
PYTHONUNBUFFERED=1 timeout $((limit - setup)) "$py" tests/models/gpu_chain.py --providers "$providers" \
    --depth "$depth" --budget "$budget" --out "$out" "${extra[@]}" || status=$?
echo "gpu_check.sh: done in $((SECONDS - started)) s (exit $status); JSON in $out" >&2
exit "$status"
