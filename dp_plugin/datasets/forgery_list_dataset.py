"""Datasets from TruFor / MMFusion style list files (``image mask label``)."""
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

from mmseg.datasets import BaseSegDataset

from dp_plugin.registry import DATASETS
from .tgif_dataset import FORGERY_METAINFO
from .tgif_naming import parse_fr_name

# ``{split}_auth.txt`` and ``{split}_{gen}_{type}.txt`` (docs/contracts.md).
_AUTH_LIST_RE = re.compile(r'^[A-Za-z]+_auth$')
_GEN_LIST_RE = re.compile(r'^[A-Za-z]+_(?P<generator>[A-Za-z0-9.]+)_(?P<mask_type>[A-Za-z]+)$')


def parse_list_line(line: str, list_file: str, line_no: int) -> Optional[tuple]:
    """Parse one ``image mask label`` line; ``None`` for blank lines and ``#`` comments.

    Returns ``(image, mask_or_None, label)``. A two-column line ``image mask`` gets the
    label from the mask (``None`` -> 0, else 1).
    """
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    parts = line.split()
    if len(parts) not in (2, 3):
        raise ValueError(
            f'{list_file}:{line_no}: expected "image mask label" (3 space-separated '
            f'fields; "None" as mask for authentic images), got {len(parts)} fields: {line!r}. '
            'Paths with spaces are not supported.')
    image, mask = parts[0], parts[1]
    mask = None if mask == 'None' else mask
    if len(parts) == 3:
        try:
            label = int(parts[2])
        except ValueError:
            raise ValueError(f'{list_file}:{line_no}: label must be 0 or 1, got {parts[2]!r}') from None
        if label not in (0, 1):
            raise ValueError(f'{list_file}:{line_no}: label must be 0 or 1, got {label}')
    else:
        label = 0 if mask is None else 1
    if label == 0 and mask is not None:
        raise ValueError(f'{list_file}:{line_no}: authentic image (label 0) with a mask {mask!r}')
    return image, mask, label


@DATASETS.register_module()
class ForgeryListDataset(BaseSegDataset):
    """Images listed in TruFor/MMFusion list files: ``image mask label`` per line.

    ``mask`` is ``None`` for authentic images (label 0). A forged image with mask
    ``None`` (label 1, detection-only data) gets an all-ignore mask when loaded.
    Each sample records ``generator``, ``mask_type`` and ``label``:

    * given per list: ``ann_file=[dict(file='a.txt', generator='sd2', mask_type='segm')]``;
    * else from the list name ``{split}_{gen}_{type}.txt`` / ``{split}_auth.txt``;
    * else from a TGIF FR image name; else ``'unknown'``.

    Args:
        ann_file (str | dict | list): One or more list files (relative to ``data_root``).
        data_root (str, optional): Folder the list files and their paths are relative to.
        paths_relative_to (str): ``'data_root'`` (default, as the simulator writes them)
            or ``'list'`` (relative to the folder of each list file).
    """

    METAINFO = FORGERY_METAINFO

    def __init__(self,
                 ann_file: Union[str, dict, Sequence[Union[str, dict]]],
                 data_root: Optional[str] = None,
                 paths_relative_to: str = 'data_root',
                 **kwargs) -> None:
        if paths_relative_to not in ('data_root', 'list'):
            raise ValueError(f"paths_relative_to must be 'data_root' or 'list', "
                             f'got {paths_relative_to!r}')
        if isinstance(ann_file, (str, dict)):
            ann_file = [ann_file]
        self.list_files = [dict(file=a) if isinstance(a, str) else dict(a) for a in ann_file]
        for entry in self.list_files:
            if 'file' not in entry:
                raise ValueError(f'ForgeryListDataset: list entry {entry} has no "file" key')
        self.paths_relative_to = paths_relative_to
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _resolve(self, path: str, base: str) -> str:
        return path if osp.isabs(path) else osp.normpath(osp.join(base, path))

    def load_data_list(self) -> List[dict]:
        data_list = []
        root = self.data_root or ''
        for entry in self.list_files:
            list_file = self._resolve(entry['file'], root)
            if not osp.isfile(list_file):
                raise FileNotFoundError(f'ForgeryListDataset: list file {list_file} not found')
            base = osp.dirname(list_file) if self.paths_relative_to == 'list' else root
            stem = osp.splitext(osp.basename(list_file))[0]
            name_match = _GEN_LIST_RE.match(stem)
            is_auth_list = _AUTH_LIST_RE.match(stem) is not None
            with open(list_file, encoding='utf-8') as f:
                for line_no, line in enumerate(f, 1):
                    parsed = parse_list_line(line, list_file, line_no)
                    if parsed is None:
                        continue
                    image, mask, label = parsed
                    generator = entry.get('generator')
                    mask_type = entry.get('mask_type')
                    if label == 0:
                        generator, mask_type = 'authentic', 'none'
                    elif generator is None or mask_type is None:
                        fr = parse_fr_name(osp.basename(image))
                        if name_match is not None and not is_auth_list:
                            guess = (name_match['generator'].lower(), name_match['mask_type'].lower())
                        elif fr is not None:
                            guess = (fr.generator, fr.mask_type)
                        else:
                            guess = ('unknown', 'unknown')
                        generator = generator or guess[0]
                        mask_type = mask_type or guess[1]
                    data_list.append(dict(
                        img_path=self._resolve(image, base),
                        seg_map_path=None if mask is None else self._resolve(mask, base),
                        generator=generator, mask_type=mask_type, label=label,
                        label_map=self.label_map, reduce_zero_label=self.reduce_zero_label,
                        seg_fields=[]))
        if not data_list:
            raise ValueError(f'ForgeryListDataset: the list files '
                             f'{[e["file"] for e in self.list_files]} hold no images')
        return data_list
