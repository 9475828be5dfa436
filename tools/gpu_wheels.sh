#!/usr/bin/env bash
# Download the wheels tools/gpu_check.sh installs on an offline NVIDIA machine: onnxruntime-gpu, the CUDA and cuDNN
# libraries it loads (NVIDIA's pip wheels), and what the check imports (numpy, opencv-python-headless, onnx).
#
#   tools/gpu_wheels.sh                          # for CPython 3.11, linux x86_64 (1.65 GB)
#   tools/gpu_wheels.sh --python 3.12 --no-cuda-libs   # a machine that already has CUDA 13 libraries in its Python
#   tools/gpu_wheels.sh --tensorrt               # also TensorRT's libraries, for the TensorRT provider (+ ~2 GB)
#
# Options:
#   --dest DIR         where the wheels go (default $FACEWEAVE_GPU_WHEELS or ~/.cache/faceweave/gpu-wheels, outside
#                      the repository so they are never committed)
#   --python X.Y       the target machine's Python (default 3.11; the project supports 3.11 and 3.12)
#   --ort VERSION      onnxruntime-gpu version (default 1.31.1; its [cuda,cudnn] extras are CUDA 13 / cuDNN 9 wheels,
#                      which need an NVIDIA driver >= 580)
#   --no-cuda-libs     onnxruntime-gpu alone, no nvidia-* wheels: for machines whose Python already holds CUDA 13
#                      and cuDNN 9 wheels (a PyTorch cu130 image, say); gpu_check.sh then makes its venv with
#                      --system-site-packages so onnxruntime finds them
#   --tensorrt         also tensorrt-cu13-libs (the TensorRT provider loads libnvinfer from it; large, not measured)
#   -h, --help         this text
#
# Sizes (downloaded here for CPython 3.11, onnxruntime-gpu 1.31.1, 2026-12-07): 15 wheels, 1,652 MB; onnxruntime-gpu
# 255.6 MB, cuDNN 516.8 MB, cuBLAS 444.3 MB, cuFFT 165.1 MB, the rest under 80 MB each. tensorrt-cu13-libs was not
# downloaded here. Every large one is over what a device run of this workplace carries (the working tree and carried
# paths, 64 MiB in all), so stage the folder on the GPU machine another way: copy it (scp, rsync, a shared volume, a
# container layer), then run
#   tools/gpu_check.sh --wheels DIR
# Where only a carry of at most 64 MiB per call is possible, the folder can travel in parts to a machine that stays
# warm between calls (split -b 60M, one part per call, cat them back there); onnxruntime-gpu alone is 5 parts.
set -euo pipefail

dest=${FACEWEAVE_GPU_WHEELS:-$HOME/.cache/faceweave/gpu-wheels}
python_version=3.11
ort_version=1.31.1
cuda_libs=1
tensorrt=0
while (($#)); do
    case "$1" in
        --dest) dest=$2; shift 2 ;;
        --python) python_version=$2; shift 2 ;;
        --ort) ort_version=$2; shift 2 ;;
        --no-cuda-libs) cuda_libs=0; shift ;;
        --tensorrt) tensorrt=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_wheels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

pip=(python3 -m pip)
[[ -x .venv/bin/pip ]] && pip=(.venv/bin/pip)
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux_2_5_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
target=(--only-binary=:all: --implementation cp --python-version "$python_version" "${platforms[@]}")

ort="onnxruntime-gpu==$ort_version"
((cuda_libs)) && ort="onnxruntime-gpu[cuda,cudnn]==$ort_version"
# The versions faceweave is tested with (pyproject.toml): numpy<2, onnx<1.19 (protobuf<5 for mediapipe).
packages=("$ort" "numpy==1.26.4" "opencv-python-headless==4.11.0.86" "onnx==1.18.0" "protobuf==4.25.9")
((tensorrt)) && packages+=("tensorrt-cu13-libs")

mkdir -p "$dest"
echo "downloading into $dest for CPython $python_version: ${packages[*]}" >&2
"${pip[@]}" download --quiet --dest "$dest" "${target[@]}" "${packages[@]}"
du -ch "$dest"/*.whl | sort -h | tail -n 12 >&2
echo "$(ls "$dest"/*.whl | wc -l) wheels in $dest; next, on the GPU machine: tools/gpu_check.sh --wheels $dest" >&2
