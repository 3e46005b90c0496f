"""MMEngine's AmpOptimWrapper on any device: bf16 autocast on CPUs and GPUs that have
it, fp16 + dynamic loss scaling on GPUs without bf16."""
from typing import Union

import torch
from mmengine.device import get_device
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from dp_plugin.registry import OPTIM_WRAPPERS


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 / AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_amp_dtype(dtype: Union[str, torch.dtype, None], device: str) -> torch.dtype:
    """``'auto'``: bf16 where the device runs it natively, else fp16 on a GPU and fp32
    (autocast off) on a CPU; a name or dtype is taken as given."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, 'float32'):
        return torch.float32
    if dtype != 'auto':
        if dtype not in AmpOptimWrapper.valid_dtypes:
            raise ValueError(f"dtype must be 'auto' or one of {AmpOptimWrapper.valid_dtypes},"
                             f' got {dtype!r}')
        return getattr(torch, dtype)
    if device == 'cuda':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == 'cpu':
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return torch.float16


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """:class:`mmengine.optim.AmpOptimWrapper` that also runs on CPU.

    The autocast context, ``state_dict`` (with ``loss_scaler``) and clipping after
    unscaling are AmpOptimWrapper's; only the device check and the loss scaler differ:
    the scaler is on for fp16 only (bf16 and fp32 have fp32's range), so a bf16 step
    has no scaler, hence no ``found_inf`` host sync.

    Args:
        dtype (str | torch.dtype): ``'auto'`` (default, see :func:`resolve_amp_dtype`),
            ``'bfloat16'``, ``'float16'`` or ``'float32'`` (autocast off).
        loss_scale: As AmpOptimWrapper's (fp16 only).
        **kwargs: OptimWrapper's arguments (``optimizer``, ``clip_grad`` ...).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'auto',
                 loss_scale: Union[str, float, dict] = 'dynamic', **kwargs) -> None:
        OptimWrapper.__init__(self, **kwargs)  # AmpOptimWrapper's own __init__ demands a GPU
        self.device_type = get_device()
        self.cast_dtype = resolve_amp_dtype(dtype, self.device_type)
        self._scale_update_param = None
        scaler_kwargs: dict = {}
        if isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            scaler_kwargs = dict(init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            scaler_kwargs = dict(loss_scale)
        elif loss_scale != 'dynamic':
            raise TypeError(f"loss_scale must be 'dynamic', a float or a dict, got {loss_scale!r}")
        self.loss_scaler = torch.amp.GradScaler(
            self.device_type, enabled=self.cast_dtype == torch.float16, **scaler_kwargs)

    @property
    def enabled(self) -> bool:
        """Whether the optim context autocasts (False for fp32)."""
        return self.cast_dtype != torch.float32

    def optim_context(self, model: torch.nn.Module):
        """AmpOptimWrapper's autocast context, or the plain one for fp32."""
        if not self.enabled:
            return OptimWrapper.optim_context(self, model)
        return super().optim_context(model)
