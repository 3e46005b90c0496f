#!/usr/bin/env python
"""Write the SIMULATED pretraining and localization datasets (see docs/simulator.md).

    python tools/simulate.py --out data/sim --seed 0
"""
from dp_plugin.simulate.cli import main

if __name__ == '__main__':
    main()
