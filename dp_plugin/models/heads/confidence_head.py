"""TruFor's confidence head: a one-channel All-MLP decoder."""
from dp_plugin.registry import MODELS
from .all_mlp_head import AllMLPHead


@MODELS.register_module()
class ConfidenceHead(AllMLPHead):
    """Predicts one logit per pixel: how far the localization map can be trusted there.

    An :class:`AllMLPHead` with a single output channel on the same fused features as
    the localization head. ``sigmoid`` of its output is the confidence map; it is trained
    against the true-class probability of the localization head
    (:class:`ConfidenceMSELoss`).
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('num_classes', 1)
        kwargs.setdefault('out_channels', 1)
        if kwargs['out_channels'] != 1:
            raise ValueError(f'ConfidenceHead has one output channel, got '
                             f'out_channels={kwargs["out_channels"]}')
        kwargs.setdefault('threshold', 0.5)
        super().__init__(**kwargs)
