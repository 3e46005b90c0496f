"""``tools/train.py`` / ``tools/test.py`` on a config mistake or a bad checkpoint: one
``error:`` line on stderr, no traceback (issue 14 review; docs/pretraining.md "Old
configs": refused with one line that names the fix)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_PRETRAIN = osp.join(REPO, 'configs', 'pretrain', 'diffusionprint_tiny_cpu.py')
TINY_SRM = osp.join(REPO, 'configs', 'lite_baseline', 'lite-baseline_mit-b0-tiny_srm_sim-128x128.py')


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.mark.parametrize('override, fix', [
    ("model = dict(backbone=dict(_delete_=True, depth=6, width=16, out_channels=16))",
     "write backbone=dict(type='DnCNN', ...)"),
    ('model = dict(flip=True)', 'model.flip moved to model.data_preprocessor.flip'),
    ("model = dict(backbone=dict(type='DnCNNN'))", 'DnCNNN is not in the dp_plugin::model'),
])
def test_train_refuses_an_old_or_mistyped_config_in_one_line(tmp_path, override, fix):
    config = tmp_path / 'old.py'
    config.write_text(f'_base_ = [{TINY_PRETRAIN!r}]\n{override}\n')
    proc = _run([osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
                 str(tmp_path / 'w')], tmp_path)
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr, proc.stderr[-800:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and fix in last, last


def test_test_tool_refuses_a_garbage_checkpoint_in_one_line(tmp_path):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'\x80\x02}q\x00' + os.urandom(2000))
    proc = _run([osp.join(REPO, 'tools', 'test.py'), TINY_SRM, str(junk), '--work-dir',
                 str(tmp_path / 'w')], tmp_path)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-800:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: {junk}: cannot load model weights'), last
    assert 'weights_only` set to `False`' not in proc.stderr  # torch's unsafe advice
