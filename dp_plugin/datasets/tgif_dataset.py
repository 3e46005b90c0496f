"""TGIF / TGIF2 fully-regenerated (FR) localization dataset."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmseg.datasets import BaseSegDataset

from dp_plugin.registry import DATASETS
from .tgif_naming import canonical_split, fr_mask_name, parse_fr_name, parse_orig_name

FORGERY_METAINFO = dict(classes=('authentic', 'forged'), palette=[[0, 0, 0], [255, 255, 255]])


def _as_set(values: Optional[Union[str, Sequence[str]]]) -> Optional[set]:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return {v.lower() for v in values}


@DATASETS.register_module()
class TGIFDataset(BaseSegDataset):
    """Fully-regenerated images of TGIF/TGIF2 (or the simulator's copy of that layout).

    Every sample records ``generator`` (``'authentic'`` for originals), ``mask_type``
    (``'segm'``, ``'random'``, ... or ``'none'``) and ``label`` (0 authentic, 1 forged),
    which the grouped metric uses. Authentic samples have ``seg_map_path=None``; load
    masks with :class:`~dp_plugin.transforms.LoadForgeryAnnotation`, which gives them an
    all-zero mask.

    Args:
        data_root (str): Folder holding ``original/``, ``masks/`` and ``{gen}-fr/``.
        split (str): ``training``/``validation``/``testing`` (or ``train``/``val``/``test``).
        generators (str | list[str], optional): Generators to use (the ``{gen}`` in the
            file names, case-insensitive); ``None`` = every ``*-fr`` folder found.
        mask_types (str | list[str], optional): Mask types to keep; ``None`` = all.
        include_authentic (bool): Add ``original/{split}`` images as authentic samples.
        sizes (int | list[int], optional): Keep only these crop sizes ``{S}``.
        fr_dirs (dict, optional): ``{generator: folder}`` for folders not named
            ``{gen}-fr`` (e.g. ``{'sd2': 'SD2-fr'}`` is found automatically; TGIF2 random
            sets like ``sd2-random-fr`` need an entry).
        original_dir (str): Folder of authentic images. Defaults to ``'original'``.
        mask_dir (str): Folder of masks (TGIF2: ``masks-flux`` ...). Defaults to ``'masks'``.
        max_per_group (int, optional): Keep at most this many samples per
            generator x mask type (first ones in sorted order), for quick runs.
    """

    METAINFO = FORGERY_METAINFO

    def __init__(self,
                 data_root: str,
                 split: str = 'training',
                 generators: Optional[Union[str, Sequence[str]]] = None,
                 mask_types: Optional[Union[str, Sequence[str]]] = None,
                 include_authentic: bool = True,
                 sizes: Optional[Union[int, Sequence[int]]] = None,
                 fr_dirs: Optional[Dict[str, str]] = None,
                 original_dir: str = 'original',
                 mask_dir: str = 'masks',
                 max_per_group: Optional[int] = None,
                 **kwargs) -> None:
        self.split = canonical_split(split)
        self.generators = _as_set(generators)
        self.mask_types = _as_set(mask_types)
        self.include_authentic = include_authentic
        self.sizes = None if sizes is None else (
            {int(sizes)} if isinstance(sizes, int) else {int(s) for s in sizes})
        self.fr_dirs = {k.lower(): v for k, v in (fr_dirs or {}).items()}
        self.original_dir = original_dir
        self.mask_dir = mask_dir
        self.max_per_group = max_per_group
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(data_root=data_root, **kwargs)

    def _find_fr_dirs(self) -> Dict[str, str]:
        """``{generator: folder}`` of the fully-regenerated folders to read."""
        found = dict(self.fr_dirs)
        for name in sorted(os.listdir(self.data_root)):
            if name.lower().endswith('-fr') and osp.isdir(osp.join(self.data_root, name)):
                found.setdefault(name[:-3].lower(), name)
        if self.generators is not None:
            missing = self.generators - set(found)
            if missing:
                raise FileNotFoundError(
                    f'TGIFDataset: no "{{gen}}-fr" folder for generator(s) {sorted(missing)} '
                    f'under {self.data_root} (found {sorted(found)}); pass fr_dirs= for '
                    'folders named differently')
            found = {g: d for g, d in found.items() if g in self.generators}
        return found

    def _sample(self, img_path: str, seg_map_path: Optional[str], generator: str,
                mask_type: str, label: int) -> dict:
        return dict(img_path=img_path, seg_map_path=seg_map_path, generator=generator,
                    mask_type=mask_type, label=label, label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label, seg_fields=[])

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'TGIFDataset: data_root {self.data_root!r} is not a folder '
                                    '(expected the TGIF FR layout: original/, masks/, {gen}-fr/)')
        groups: Dict[tuple, List[dict]] = {}
        mask_folder = osp.join(self.data_root, self.mask_dir, self.split)
        for generator, folder in self._find_fr_dirs().items():
            split_dir = osp.join(self.data_root, folder, self.split)
            if not osp.isdir(split_dir):
                raise FileNotFoundError(f'TGIFDataset: missing split folder {split_dir}')
            for name in sorted(os.listdir(split_dir)):
                fr = parse_fr_name(name)
                if fr is None:
                    continue
                if self.mask_types is not None and fr.mask_type not in self.mask_types:
                    continue
                if self.sizes is not None and fr.size not in self.sizes:
                    continue
                mask_path = osp.join(mask_folder, fr_mask_name(fr))
                if not osp.isfile(mask_path):
                    raise FileNotFoundError(
                        f'TGIFDataset: ground truth of {osp.join(split_dir, name)} not found; '
                        f'expected {mask_path}')
                groups.setdefault((generator, fr.mask_type), []).append(self._sample(
                    osp.join(split_dir, name), mask_path, generator, fr.mask_type, 1))
        if self.include_authentic:
            orig_dir = osp.join(self.data_root, self.original_dir, self.split)
            if not osp.isdir(orig_dir):
                raise FileNotFoundError(f'TGIFDataset: missing authentic folder {orig_dir}')
            for name in sorted(os.listdir(orig_dir)):
                orig = parse_orig_name(name)
                if orig is None or (self.sizes is not None and orig.size not in self.sizes):
                    continue
                groups.setdefault(('authentic', 'none'), []).append(self._sample(
                    osp.join(orig_dir, name), None, 'authentic', 'none', 0))
        data_list = []
        for key in sorted(groups):
            data_list.extend(groups[key][:self.max_per_group])
        if not data_list:
            raise FileNotFoundError(
                f'TGIFDataset: no images for split={self.split!r}, generators='
                f'{sorted(self.generators) if self.generators else "all"}, mask_types='
                f'{sorted(self.mask_types) if self.mask_types else "all"} under {self.data_root}')
        return data_list
