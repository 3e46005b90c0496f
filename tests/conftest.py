import os

import pytest
import torch

# Two cores: keep every test process on a predictable thread count.
torch.set_num_threads(int(os.environ.get('DP_TEST_THREADS', '2')))

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
NOISEPRINT_WEIGHTS = os.path.join(SHARED, 'weights', 'noiseprint++', 'noiseprint++.th')


@pytest.fixture
def noiseprint_weights():
    if not os.path.isfile(NOISEPRINT_WEIGHTS):
        pytest.skip('real Noiseprint++ weights not found in ../shared')
    return NOISEPRINT_WEIGHTS
