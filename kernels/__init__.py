"""``functrans.kernels``: GPU runtime and hand-written Triton kernels.

Installed as ``functrans.kernels``. The only place that imports triton or cupy: ``import
functrans`` never loads them.

* ``device``  which backend can run here (GPU detection, TRITON_INTERPRET), typed errors;
* ``launch``  runtimes that generated launchers call (CuPy on a GPU, on CuPy's current stream;
  NumPy buffers under Triton's interpreter) and fallbacks;
* ``interp``  the NumPy adapter that lets Triton's interpreter run kernels without torch;
* ``arrays``  devices, GPU-resident Arrays, DLPack, device_put/device_get;
* ``matmul``  the hand-written matmul tile and kernel with a fused epilogue;
* ``tl_math`` interpreter-safe math helpers (tanh, expm1, atan2, NaN-propagating max, ...);
* ``ptx``     compile generated kernels to PTX for sm_90 without a GPU, ptxas reports;
* ``bench``   CUDA-event timing through CuPy (triton.testing needs torch).

``matmul`` and ``tl_math`` define ``@triton.jit`` functions and so import triton when they are
imported (only generated kernel modules and direct users do); the others import triton and
cupy lazily, inside functions.
"""
