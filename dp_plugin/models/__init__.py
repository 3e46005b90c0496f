"""Forgery localization models."""
from . import backbones, converters, fusion, heads, losses, segmentors, utils  # noqa: F401
from .backbones import *  # noqa: F401,F403
from .converters import *  # noqa: F401,F403
from .fusion import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
