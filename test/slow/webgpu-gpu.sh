#!/usr/bin/env bash
# Issue 17's GPU timings, in one command on a lent GPU machine (written and run on SwiftShader,
# where the counts hold but the times mean nothing; not yet run on a GPU).
# That machine has no Node and no network: carry a Node 20 binary (NODE=/path/to/node), this
# tree with dist/ and node_modules/ (of webgpu only dist/linux-x64 is needed), and Debian's
# libvulkan1 unpacked with `dpkg -x libvulkan1_*.deb DIR` (VK_DIR=DIR). Then, from the repo root:
#   NODE=... VK_DIR=... bash test/slow/webgpu-gpu.sh [ITERS]
# It prints gan doctor (which names the Vulkan driver), runs the webgpu test tier on the GPU's
# adapter, then times a training step on webgpu: the MLP at batch 64/256/1024, the DCGAN at
# --channels 32 and 128 (the tutorials' width) at batch 64/256/1024, each with one submit per
# step (the default) and with tfjs's rule of a submit every 15 dispatches, and PyTorch CUDA's
# step for the same models beside them (../shared/ref; skipped where python3 has no torch).
# Targets on an H100: MLP <= 10 ms per step, DCGAN C=128 <= 25 ms at batch 64.
set -u
NODE=${NODE:-node}
VK_DIR=${VK_DIR:-}
ITERS=${1:-20}
REF=${REF:-../shared/ref}
if [ -n "$VK_DIR" ]; then export LD_LIBRARY_PATH="$VK_DIR/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"; fi
# The NVIDIA driver's Vulkan manifest, where containers often put it out of the loader's sight.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
echo "== VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
echo "== gan doctor"; "$NODE" bin/gan.js doctor
echo "== webgpu tests"; "$NODE" --test dist/test/webgpu-kernels.test.js dist/test/webgpu.test.js dist/test/webgpu-train.test.js
for submit in default 15; do
  if [ "$submit" = default ]; then unset GAN_WEBGPU_SUBMIT_BATCH; else export GAN_WEBGPU_SUBMIT_BATCH=$submit; fi
  echo "== MLP step on webgpu, submits: $submit"
  "$NODE" dist/src/tools/bench.js --backends webgpu --threads 1 --archs mlp --batches 64,256,1024 --iters "$ITERS"
  echo "== DCGAN step on webgpu, submits: $submit"
  "$NODE" dist/src/tools/bench.js --archs dcgan --dcgan-backend webgpu --dcgan-batches 64,256,1024 --channels 32,128 --iters "$ITERS"
done
unset GAN_WEBGPU_SUBMIT_BATCH
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  echo "== PyTorch CUDA: MLP"; python3 "$REF/torch_mlp_gpu_bench.py" cuda 64,256,1024
  # WIDTH 0.25 is --channels 32 (the tutorials' 128 x 0.25), 1.0 is --channels 128.
  for width in 0.25 1.0; do echo "== PyTorch CUDA: DCGAN width $width"; python3 "$REF/torch_dcgan_bench.py" cuda 64,256,1024 30 "$width"; done
else
  echo "== PyTorch CUDA: skipped (python3 has no torch with CUDA here)"
fi
