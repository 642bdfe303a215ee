/**
 * A clear error for synchronous reads (`dataSync`, `arraySync`) of GPU tensors on the webgpu
 * backend in Node.
 *
 * Why: tfjs-backend-webgpu 4.22.0 reads a GPU buffer synchronously by drawing it into an
 * OffscreenCanvas, which exists in browsers only; in Node that fails deep inside tfjs with
 * "OffscreenCanvas is not defined". WebGPU has no blocking read (mapAsync), so code that runs
 * on this backend must read with `await tensor.data()`. Tensors whose values are still on the
 * CPU (small results tfjs computed there) read as before.
 */
export function installWebGpuReadSyncGuard(backendClass: { prototype: object }): void {
  const proto = backendClass.prototype as { readSync?: (dataId: object) => unknown; ganReadSyncGuard?: boolean };
  const original = proto.readSync;
  if (typeof original !== 'function' || proto.ganReadSyncGuard) return;
  proto.readSync = function (this: { tensorMap: { get(id: object): { values?: unknown; dtype: string } } }, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (
      data.values != null ||
      data.dtype === 'string' ||
      data.dtype === 'complex64' ||
      typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined'
    ) {
      return original.call(this, dataId);
    }
    throw new Error(
      'the webgpu backend cannot read a GPU tensor synchronously in Node (dataSync/arraySync); read it with await tensor.data()',
    );
  };
  proto.ganReadSyncGuard = true;
}
