#!/usr/bin/env python
"""Write the SIMULATED pretraining and localization datasets (see docs/simulator.md).

    python tools/simulate.py --out data/sim --seed 0
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dp_plugin.simulate.cli import main  # noqa: E402

if __name__ == '__main__':
    main()
