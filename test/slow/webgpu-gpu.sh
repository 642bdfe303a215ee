#!/usr/bin/env bash
# Issue 12, acceptance 1, on a lent GPU machine: NOT RUN YET (written where no GPU was available).
# That machine has no Node and no network: carry a Node 20 binary (NODE=/path/to/node), this
# tree with dist/ and node_modules/ (only webgpu's dist/linux-x64 is needed), and Debian's
# libvulkan1 unpacked with `dpkg -x libvulkan1_*.deb DIR` (VK_DIR=DIR). Then, from the repo root:
#   NODE=... VK_DIR=... bash test/slow/webgpu-gpu.sh
# It prints gan doctor, runs the webgpu tests (the tier in webgpu-train.test.ts compares with
# wasm and trains end to end on the GPU's adapter), and times the MLP step on webgpu at batch
# 64/256/1024 with the upload fix and without it, then the DCGAN at the tutorial's width.
set -u
NODE=${NODE:-node}
VK_DIR=${VK_DIR:-}
if [ -n "$VK_DIR" ]; then export LD_LIBRARY_PATH="$VK_DIR/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"; fi
# The NVIDIA driver's Vulkan manifest, where containers often put it out of the loader's sight.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
echo "== VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
echo "== gan doctor"; "$NODE" bin/gan.js doctor
echo "== webgpu tests"; "$NODE" --test dist/test/webgpu.test.js dist/test/webgpu-train.test.js
for fix in 1 0; do
  echo "== MLP step on webgpu, GAN_WEBGPU_UPLOAD_FIX=$fix"
  GAN_WEBGPU_UPLOAD_FIX=$fix "$NODE" dist/src/tools/bench.js --backends webgpu --archs mlp --batches 64,256,1024 --iters 20
done
echo "== DCGAN step on webgpu (tutorial width)"
"$NODE" dist/src/tools/bench.js --archs dcgan --dcgan-backend webgpu --dcgan-batches 64,256 --channels 128 --iters 10
