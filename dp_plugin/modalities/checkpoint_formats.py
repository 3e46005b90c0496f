"""Weight loading for every published DnCNN checkpoint format (to be completed)."""
import torch


def load_dncnn_state_dict(filename: str, dncnn: torch.nn.Module) -> dict:
    """Return a DnCNN ``state_dict`` (plain Sequential keys) read from ``filename``."""
    obj = torch.load(filename, map_location='cpu', weights_only=True)
    if isinstance(obj, dict) and 'network' in obj:
        obj = obj['network']
    return obj
