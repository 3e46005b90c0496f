import os
import sys

import pytest
import torch

# Two cores: keep every test process on a predictable thread count.
torch.set_num_threads(int(os.environ.get('DP_TEST_THREADS', '2')))
# The tools' helper modules (tools/demo_lib.py, tools/bad_input_corpus.py) import by name;
# appended, so no tool script shadows an installed package.
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools'))


def _find_noiseprint_weights() -> str:
    """``$DP_NOISEPRINT_WEIGHTS``, else ``shared/weights/...`` next to any parent folder."""
    if os.environ.get('DP_NOISEPRINT_WEIGHTS'):
        return os.environ['DP_NOISEPRINT_WEIGHTS']
    rel = os.path.join('shared', 'weights', 'noiseprint++', 'noiseprint++.th')
    folder = os.path.dirname(os.path.abspath(__file__))
    while True:
        if os.path.isfile(os.path.join(folder, rel)):
            return os.path.join(folder, rel)
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', rel)
        folder = parent


NOISEPRINT_WEIGHTS = _find_noiseprint_weights()


@pytest.fixture
def noiseprint_weights():
    if not os.path.isfile(NOISEPRINT_WEIGHTS):
        pytest.skip(f'real Noiseprint++ weights not found ({NOISEPRINT_WEIGHTS}); '
                    'set DP_NOISEPRINT_WEIGHTS')
    return NOISEPRINT_WEIGHTS


@pytest.fixture(autouse=True, scope='session')
def _private_model_home(tmp_path_factory):
    """Tests never read or write the user's model home (``~/.cache/dp_plugin``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('DP_PLUGIN_HOME', str(tmp_path_factory.mktemp('dp_plugin_home')))
        yield


@pytest.fixture(autouse=True)
def _dp_plugin_default_scope():
    """Every test starts in dp_plugin's scope, as a fresh process building our configs would.

    Runner-based tests leave mmengine's current DefaultScope behind (e.g. 'mmengine'),
    which would otherwise make later registry look-ups depend on test order.
    """
    from mmengine.registry import init_default_scope
    init_default_scope('dp_plugin')
