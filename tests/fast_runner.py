"""Test-only speed-up for tiny training runs (import it; the runs import nothing else).

mmengine re-formats the whole config with yapf for the log, the work-dir copy and every
checkpoint's metadata: several seconds per runner on the shared 2-core machine, about
half of a tiny run. The unformatted text mmengine builds is already valid config
Python, so the formatter is skipped; nothing a test checks depends on the layout.
"""
import mmengine.config.config as _config


def _unformatted(text: str, **_) -> tuple:
    return text, False


_config.FormatCode = _unformatted
