"""``functrans.kernels``: GPU runtime and hand-written Triton kernels.

Installed as ``functrans.kernels``. The only place that imports triton or cupy, and only
lazily, inside functions: ``import functrans`` never loads them.
"""
