"""Files written through dp_plugin.utils.atomic_io get the permissions a plain ``open``
would give them (issue 14: they were 0600 whatever the umask)."""
import os
import stat

import pytest

from dp_plugin.utils.atomic_io import atomic_write, atomic_write_bytes


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize('value, expected', [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask_like_open(tmp_path, umask, value, expected):
    umask(value)
    with open(tmp_path / 'plain.txt', 'w') as fh:
        fh.write('x')
    atomic_write_bytes(tmp_path / 'atomic.bin', b'x')
    with atomic_write(str(tmp_path / 'atomic.txt'), 'w') as fh:
        fh.write('x')
    modes = {name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)
             for name in ('plain.txt', 'atomic.bin', 'atomic.txt')}
    assert modes == dict.fromkeys(modes, expected)


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / 'shared.txt'
    target.write_text('old')
    os.chmod(target, 0o664)
    atomic_write_bytes(target, b'new')
    assert target.read_bytes() == b'new'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o664
