"""Names of the simulated generators (no torch: the CLI's ``--help`` reads them)."""
from typing import Dict, Tuple

#: name -> decoder upsampling family. The first three are the training generators.
GENERATORS: Dict[str, str] = {
    'simnn': 'nearest',
    'simbl': 'bilinear',
    'simtc': 'transposed',
    'simps': 'pixelshuffle',
}
TRAIN_GENERATORS: Tuple[str, ...] = ('simnn', 'simbl', 'simtc')
HELDOUT_GENERATORS: Tuple[str, ...] = ('simps',)
#: class labels of the generator-aware head (``simps`` is unseen on purpose).
CLASS_LABELS: Dict[str, int] = {'real': 0, 'simnn': 1, 'simbl': 2, 'simtc': 3}
