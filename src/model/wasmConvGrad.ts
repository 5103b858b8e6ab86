import type { TensorInfo } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';

const KERNEL = 'Conv2DBackpropFilter';
const CONV3D_FILTER = 'Conv3DBackpropFilterV2';

interface FilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  filterShape: [number, number, number, number];
}

/**
 * tfjs' WASM backend registers no Conv2DBackpropFilter, the weight gradient of every convolution
 * (Conv1D runs as a 2-D convolution), so a convolutional model could not train on it. It has
 * Conv3DBackpropFilterV2, and an NHWC tensor [b, h, w, c] has the same bytes as the NDHWC tensor
 * [b, 1, h, w, c]: the 2-D gradient is the 3-D one with a depth of 1, read from the same buffers.
 * Stride 1 only: the WASM 3-D gradient is wrong for larger strides (off from a finite difference
 * by several times), so those throw rather than train on a wrong gradient. Registered once per
 * process, only when the WASM backend lacks the kernel.
 */
export function registerWasmConvGrad(tf: Tf): void {
  if (tf.getBackend() !== 'wasm' || tf.getKernel(KERNEL, 'wasm') !== undefined) return;
  const conv3d = tf.getKernel(CONV3D_FILTER, 'wasm');
  if (conv3d === undefined) return;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      const { strides, pad, filterShape } = attrs as unknown as FilterAttrs;
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      if (sh !== 1 || sw !== 1)
        throw new Error(`${KERNEL} on wasm: strides ${sh}×${sw} are not supported (stride 1 only)`);
      const depth1 = (t: TensorInfo): TensorInfo => ({ ...t, shape: [t.shape[0]!, 1, ...t.shape.slice(1)] });
      const dw = conv3d.kernelFunc({
        inputs: { x: depth1(x), dy: depth1(dy) },
        backend,
        attrs: { strides: [1, sh, sw], pad, filterShape: [1, ...filterShape] },
      }) as TensorInfo;
      return { ...dw, shape: filterShape };
    },
  });
}
