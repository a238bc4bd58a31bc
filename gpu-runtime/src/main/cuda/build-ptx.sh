#!/usr/bin/env bash
# Compiles every kernel file here to PTX for sm_90 (the H200), as classpath resources of gpu-runtime.
# Run by the Maven build (generate-resources); without nvcc it says so and leaves the build to go on
# with no kernels: the CUDA backend then refuses to start and the service uses the CPU.
# usage: build-ptx.sh SOURCE_DIR OUTPUT_DIR
set -euo pipefail
src=$1
out=$2
nvcc=${NVCC:-$(command -v nvcc || true)}
if [[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]]; then
  nvcc=/usr/local/cuda/bin/nvcc
fi
if [[ -z $nvcc ]]; then
  echo "[cuda] nvcc not found (PATH, NVCC, /usr/local/cuda/bin): skipping the CUDA kernels;" \
    "this gpu-runtime build has no PTX and its CUDA backend will fall back to the CPU"
  exit 0
fi
mkdir -p "$out"
for cu in "$src"/*.cu; do
  name=$(basename "$cu" .cu)
  ptx=$out/$name.ptx
  # Rebuild only what changed: the build runs on every mvn invocation.
  fresh=1
  for dep in "$cu" "$src"/*.cuh; do
    [[ $ptx -nt $dep ]] || fresh=0
  done
  if ((fresh)); then
    continue
  fi
  "$nvcc" -ptx -arch=sm_90 -std=c++17 -O3 -lineinfo -I"$src" -o "$ptx" "$cu"
done
echo "[cuda] PTX for sm_90 in $out ($("$nvcc" --version | tail -1))"
