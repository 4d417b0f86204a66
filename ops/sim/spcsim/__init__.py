"""spcsim: a deterministic station simulator for spcstream (pyWATS reports, injectable faults).

Run ``python -m spcsim --help`` (with ``ops/sim`` on ``PYTHONPATH``) and see ops/sim/README.md.
"""

__version__ = "0.1.0"
