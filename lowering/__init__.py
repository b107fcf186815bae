"""``functrans.lowering``: jit staging, IR passes, fusion, and code generation (NumPy, Triton).

Installed as ``functrans.lowering`` (see pyproject.toml). Imports the core, never the reverse.
"""
