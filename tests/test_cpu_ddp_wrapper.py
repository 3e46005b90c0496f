"""`torchrun ... tools/train.py CONFIG --launcher pytorch` on a machine without CUDA wraps
the model even when the config brings its own ``model_wrapper_cfg`` (the pretraining
runtime does): mmengine 0.10.7's ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]``
unless the config says otherwise, and torch's DDP refuses device ids for CPU modules."""
import os
import socket
import subprocess
import sys

import pytest
import torch

from _helpers import REPO

SCRIPT = r'''
import argparse, sys
sys.path.insert(0, {tools!r})
from _dist import load_config
from mmengine.model import MMDistributedDataParallel
from mmengine.runner import Runner
args = argparse.Namespace(config={config!r}, cfg_options=None, launcher='pytorch',
                          work_dir={work_dir!r}, local_rank=0)
runner = Runner.from_cfg(load_config(args))  # wraps the model (datasets are built lazily)
assert isinstance(runner.model, MMDistributedDataParallel), type(runner.model)
print('wrapped', runner.model.device_ids)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU (gloo) launcher path')
def test_pretrain_config_wraps_on_cpu_with_its_own_wrapper_cfg(tmp_path):
    """The tiny pretraining twin (``model_wrapper_cfg`` from pretrain_runtime.py) builds
    its Runner under a 1-rank torchrun environment: the model is DDP-wrapped, no device ids."""
    config = os.path.join(REPO, 'configs', 'pretrain', 'diffusionprint_tiny_cpu.py')
    code = SCRIPT.format(tools=os.path.join(REPO, 'tools'), config=config,
                         work_dir=str(tmp_path / 'work'))
    env = dict(os.environ, RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'wrapped None' in proc.stdout
