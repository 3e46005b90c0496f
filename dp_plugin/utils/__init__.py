"""Small dependency-free helpers shared by every part of dp_plugin."""
from .atomic_io import TEMP_MARKER, atomic_write, atomic_write_bytes, remove_stale_temp_files

__all__ = ['TEMP_MARKER', 'atomic_write', 'atomic_write_bytes', 'remove_stale_temp_files']
