"""Make MMEngine runner checkpoints loadable with ``torch.load(weights_only=True)``."""
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from dp_plugin.registry import HOOKS


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Store the message hub as tensors and plain types, and rebuild it on load.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, which torch >= 2.6
    defaults to ``True``; a stock runner checkpoint then fails to resume because the
    message hub pickles :class:`HistoryBuffer` objects (with bound methods, i.e. the
    ``getattr`` global) and NumPy scalars. Allow-listing ``getattr`` would re-open
    arbitrary code execution, so instead this hook writes history buffers as
    ``dict(log=, count=, max_length=)`` tensors and NumPy values as Python/torch values,
    and turns them back into :class:`HistoryBuffer` right after loading.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not hub:
            return
        scalars = {}
        for key, buf in hub.get('log_scalars', {}).items():
            if isinstance(buf, HistoryBuffer):
                log, count = buf.data
                buf = dict(log=torch.from_numpy(np.asarray(log, dtype=np.float64)),
                           count=torch.from_numpy(np.asarray(count, dtype=np.float64)),
                           max_length=int(buf.max_length), _history_buffer=True)
            scalars[key] = buf
        hub['log_scalars'] = scalars
        hub['runtime_info'] = {k: _plain(v) for k, v in hub.get('runtime_info', {}).items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not hub:
            return
        for key, buf in list(hub.get('log_scalars', {}).items()):
            if isinstance(buf, dict) and buf.get('_history_buffer'):
                hub['log_scalars'][key] = HistoryBuffer(buf['log'].numpy(),
                                                        buf['count'].numpy(),
                                                        buf['max_length'])
