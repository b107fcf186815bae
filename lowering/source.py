"""Generated source: a small code writer, and the on-disk, content-addressed module cache.

A backend writes a module with ``SourceWriter`` and loads it with ``load_module``: the source is
written to ``<cache>/<backend>/<key[:2]>/<key>.py`` (atomically: temporary file, then
``os.replace``) next to a JSON metadata file, and imported from there, so tracebacks and
debuggers show real lines and a second process finds the module already written. Nothing but
plain source and JSON is ever stored (never pickle). The cache lives in a per-user directory
(``FUNCTRANS_CACHE_DIR``, else ``$XDG_CACHE_HOME/functrans``, else ``~/.cache/functrans``),
is capped in size (oldest modules evicted first), and ``clear_caches()`` empties it.
Imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

FORMAT_VERSION = "1"  # bump when generated code changes meaning: old entries are ignored
DEFAULT_CAP_BYTES = 256 * 1024 * 1024

_lock = threading.Lock()


class SourceWriter:
    """Accumulates indented lines of Python source."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        self.lines.append(("    " * self.level + text) if text else "")

    def comment(self, text: str) -> None:
        """Comment lines; any text is safe here (each line gets its own ``#``)."""
        for piece in text.splitlines() or [""]:
            self.line(f"# {piece}".rstrip())

    def comment_inline(self, text: str) -> None:
        """A comment at the end of the last line (newlines in ``text`` are flattened)."""
        flat = " ".join(text.split())
        self.lines[-1] += f"# {flat}"

    class _Indent:
        def __init__(self, writer: SourceWriter):
            self.writer = writer

        def __enter__(self) -> None:
            self.writer.level += 1

        def __exit__(self, *exc: Any) -> None:
            self.writer.level -= 1

    def indent(self) -> _Indent:
        return SourceWriter._Indent(self)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def cache_dir() -> str:
    root = os.environ.get("FUNCTRANS_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        root = os.path.join(base, "functrans")
    return os.path.join(root, f"v{FORMAT_VERSION}")


def content_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def _atomic_write(path: str, data: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _paths(backend: str, key: str) -> tuple[str, str]:
    directory = os.path.join(cache_dir(), backend, key[:2])
    return os.path.join(directory, f"{key}.py"), os.path.join(directory, f"{key}.json")


def load_module(backend: str, source: str, metadata: dict[str, Any], persist: bool = True
                ) -> tuple[types.ModuleType, str, bool]:
    """Load ``source`` as a module, through the on-disk cache when ``persist``.

    Returns (module, file path or "", whether the file was already there). The source is
    compiled before anything is written (a module that does not compile is a functrans bug and
    must never reach the cache), and a cached file whose content does not match its name (a
    torn or tampered write) is rewritten, never trusted. Tracebacks show the cached file's
    lines.
    """
    key = content_key(backend, FORMAT_VERSION, source)
    if not persist:
        return _exec_module(source, f"<functrans-{backend}-{key[:12]}>"), "", False
    path, meta_path = _paths(backend, key)
    code = compile(source, path, "exec")
    found = False
    try:
        with open(path, encoding="utf-8") as f:
            found = f.read() == source
    except (OSError, UnicodeDecodeError):
        found = False
    try:
        if not found:
            with _lock:
                _atomic_write(path, source)
                _atomic_write(meta_path, json.dumps({**metadata, "key": key,
                                                     "created": time.time()}, indent=1))
            _maybe_enforce_cap()
        else:
            os.utime(path)  # recently used: evicted last
    except OSError:
        # A read-only or full disk must not break jit: fall back to an in-memory module.
        return _exec_module(source, f"<functrans-{backend}-{key[:12]}>"), "", False
    module = types.ModuleType(f"functrans_generated_{backend}_{key[:24]}")
    module.__file__ = path
    exec(code, module.__dict__)  # noqa: S102 - our own generated code
    return module, path, found


def _exec_module(source: str, filename: str) -> types.ModuleType:
    import linecache
    module = types.ModuleType(filename)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own codegen
    return module


def _walk() -> Iterator[tuple[str, os.stat_result]]:
    root = cache_dir()
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                yield path, os.stat(path)
            except OSError:
                continue


def cache_size_bytes() -> int:
    return sum(st.st_size for _, st in _walk())


# Enforcing the cap walks the whole cache directory (tens of ms with ~10^4 files), so it runs
# on a random 1 in CAP_CHECK_EVERY writes, not on every one: the cache may overshoot its cap
# by about that many modules (a few MB) before it is trimmed.
CAP_CHECK_EVERY = 64


def _maybe_enforce_cap() -> None:
    if random.randrange(CAP_CHECK_EVERY) == 0:
        _enforce_cap()


def _enforce_cap() -> None:
    cap = int(os.environ.get("FUNCTRANS_CACHE_MAX_BYTES", DEFAULT_CAP_BYTES))
    entries = [(st.st_mtime, st.st_size, p) for p, st in _walk() if p.endswith(".py")]
    total = sum(size for _, size, _ in entries)
    if total <= cap:
        return
    for _, size, path in sorted(entries):
        for victim in (path, path[:-3] + ".json"):
            try:
                os.unlink(victim)
            except OSError:
                pass
        total -= size
        if total <= cap * 0.8:
            break


def clear_disk_cache() -> None:
    """Delete every cached generated module of this format version."""
    for path, _ in list(_walk()):
        try:
            os.unlink(path)
        except OSError:
            pass
