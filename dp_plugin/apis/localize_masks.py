"""Ground-truth sources of ``dp-localize --masks``: mask folders and list files.

A source is

* a **folder** of masks. An image's mask is, in this order: the file with the image's
  relative path and stem plus ``--mask-suffix`` (any image extension); for a TGIF/TGIF2
  fully-regenerated name ``{id}_mask_{type}.png_{gen}-{S}_{var}.png`` the cropped mask
  ``{id}_mask_{type}_{S}.png``; for a TGIF spliced name ``{id}_mask_{type}.png_...`` the
  full-size mask ``{id}_mask_{type}.png`` (TGIF does not say whether the PS-adapted mask is
  the SP ground truth; the plain one is used). TGIF names are looked up anywhere under the
  folder, preferring a sub-folder named like the image's (the split). ``{id}_orig*``
  images are authentic (no mask expected);
* a TruFor/MMFusion **list file** (``image mask label`` per line, read by
  :class:`~dp_plugin.datasets.ForgeryListDataset`, so generator and mask type come out as
  in ``tools/test.py``). Paths are relative to the folder above a ``lists/`` folder (as
  ``dp-simulate`` writes them) or to the list's own folder.
"""
import os
import os.path as osp
import re
from typing import Dict, List, NamedTuple, Optional, Sequence

from .image_io import IMAGE_EXTENSIONS

#: TGIF spliced names: ``{id}_mask_{type}.png_ps_mask.png_{gen}_{var}.png`` (SD2/FLUX SP),
#: ``{id}_mask_{type}.png_ps_{var}.png`` (PS SP), ``{id}_mask_random.png_{gen}_{var}.png``.
_SP_RE = re.compile(r'^(?P<id>\d+)_mask_(?P<mask_type>[A-Za-z]+)\.png_(?:ps_mask\.png_)?'
                    r'(?P<generator>[A-Za-z0-9.]+)_(?P<var>\d+)\.(?:png|jpe?g)$')


class MaskSourceError(ValueError):
    """A ``--masks`` source that cannot be used (one line)."""


class GroundTruth(NamedTuple):
    """What the sources say about one image."""

    mask: Optional[str]  #: mask file, ``None`` when none was found or the image is authentic
    label: Optional[int]  #: 1 forged, 0 authentic, ``None`` unknown (decided by the mask)
    generator: str
    mask_type: str


class MaskSources:
    """Look images up in the ``--masks`` sources.

    Args:
        sources: Folders and list files.
        suffix: ``--mask-suffix`` for the same-stem rule of folders.

    Raises:
        MaskSourceError: A source that is neither a folder nor a readable list file.
    """

    def __init__(self, sources: Sequence[str], suffix: str = '') -> None:
        self.suffix = suffix
        self.folders: List[str] = []
        self.listed: Dict[str, GroundTruth] = {}
        self._by_name: Dict[str, List[str]] = {}
        for source in sources:
            if osp.isdir(source):
                self.folders.append(source)
                self._index(source)
            elif osp.isfile(source):
                self._read_list(source)
            else:
                raise MaskSourceError(f'--masks {source}: no such folder or list file')

    def _index(self, folder: str) -> None:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            for name in files:
                if osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    self._by_name.setdefault(name, []).append(osp.join(root, name))

    def _read_list(self, list_file: str) -> None:
        from dp_plugin.datasets import ForgeryListDataset
        list_file = osp.abspath(list_file)
        folder = osp.dirname(list_file)
        for options in (dict(data_root=osp.dirname(folder)), dict(data_root=folder),
                        dict(data_root=folder, paths_relative_to='list')):
            try:
                entries = ForgeryListDataset(ann_file=list_file, pipeline=[],
                                             serialize_data=False, **options).data_list
            except Exception as exc:  # malformed list: one line, usage error
                raise MaskSourceError(f'--masks {list_file}: {" ".join(str(exc).split())}') \
                    from None
            if any(osp.exists(e['img_path']) for e in entries):
                break
        else:
            raise MaskSourceError(f'--masks {list_file}: none of its images exists relative '
                                  f'to {osp.dirname(folder)} or {folder}')
        for e in entries:  # a listed mask that does not exist counts as not found
            mask = e['seg_map_path'] if e['seg_map_path'] and osp.lexists(e['seg_map_path']) \
                else None
            self.listed[osp.realpath(e['img_path'])] = GroundTruth(
                mask, e['label'], e['generator'], e['mask_type'])

    def _named(self, name: str, image_dir: str) -> Optional[str]:
        candidates = self._by_name.get(name, [])
        for path in candidates:  # same split folder first
            if osp.basename(osp.dirname(path)) == image_dir:
                return path
        return candidates[0] if candidates else None

    def lookup(self, path: str, rel: str) -> GroundTruth:
        """Ground truth of the image at ``path`` (output name ``rel``)."""
        from dp_plugin.datasets.tgif_naming import fr_mask_name, parse_fr_name, parse_orig_name
        listed = self.listed.get(osp.realpath(path))
        if listed is not None:
            return listed
        name = osp.basename(path)
        fr = parse_fr_name(name)
        generator, mask_type = (fr.generator, fr.mask_type) if fr else ('unknown', 'unknown')
        stem = osp.splitext(rel)[0] + self.suffix
        for folder in self.folders:
            for ext in IMAGE_EXTENSIONS:
                for candidate in (stem + ext, stem + ext.upper()):
                    if osp.lexists(osp.join(folder, candidate)):
                        return GroundTruth(osp.join(folder, candidate), None, generator,
                                           mask_type)
        if self.folders:
            if parse_orig_name(name) is not None:
                return GroundTruth(None, 0, 'authentic', 'none')
            image_dir = osp.basename(osp.dirname(osp.abspath(path)))
            if fr is not None:
                mask = self._named(fr_mask_name(fr), image_dir)
                return GroundTruth(mask, 1 if mask else None, generator, mask_type)
            sp = _SP_RE.match(name)
            if sp is not None:
                mask = self._named(f'{sp["id"]}_mask_{sp["mask_type"]}.png', image_dir)
                return GroundTruth(mask, 1 if mask else None, sp['generator'].lower(),
                                   sp['mask_type'].lower())
        return GroundTruth(None, None, generator, mask_type)
