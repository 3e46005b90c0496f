"""Hostile exports: metadata that contradicts the tensors is refused with one clear line
before anything is built from it (issue 15, item 10)."""
import json
import os.path as osp

import pytest
import torch
from safetensors.torch import save_file

from dp_plugin.modalities import DiffusionPrint, DnCNN
from dp_plugin.modalities.export_format import (FORMAT_NAME, METADATA_KEY, ExportMetadataError,
                                                read_export_metadata, save_modality_export)
from dp_plugin.pretrain.linear_probe import load_frozen_encoder
from pretrain_synth import one_thread  # noqa: F401 (autouse)

ARCH = dict(type='DnCNN', in_channels=3, out_channels=8, depth=3, width=4)


def _lying_export(path, **claims):
    """A 4-wide, 3-deep DnCNN export whose metadata claims ``claims`` instead."""
    torch.manual_seed(0)
    tensors = {k: v.contiguous() for k, v in DnCNN(3, 8, depth=3, width=4).state_dict().items()}
    meta = dict(format=FORMAT_NAME, format_version=1, modality='DiffusionPrint',
                architecture=dict(ARCH, **claims), pixel_divisor=255, input_highpass=None)
    save_file(tensors, path, metadata={METADATA_KEY: json.dumps(meta)})
    return path


@pytest.fixture
def no_huge_dncnn(monkeypatch):
    """Building a DnCNN wider/deeper than 1000 fails the test instead of allocating
    tens of GB (a width-30000 DnCNN needs 32 GB for one inner convolution)."""
    original = DnCNN.__init__

    def guarded(self, in_channels=3, out_channels=64, depth=17, width=64, **kw):
        if max(in_channels, out_channels, depth, width) > 1000:
            raise AssertionError(f'a DnCNN(width={width}, depth={depth}) was about to be built '
                                 'from unchecked metadata')
        original(self, in_channels, out_channels, depth, width, **kw)

    monkeypatch.setattr(DnCNN, '__init__', guarded)


@pytest.mark.parametrize('claims, named', [
    (dict(width=30000), 'width=30000'), (dict(depth=10 ** 6), 'depth=1000000'),
    (dict(out_channels=64), 'out_channels=64'), (dict(width='4'), "width='4'")])
def test_metadata_contradicting_the_tensors_is_refused_before_building(
        tmp_path, no_huge_dncnn, claims, named):
    path = _lying_export(str(tmp_path / 'liar.safetensors'), **claims)
    for load in (read_export_metadata, lambda p: DiffusionPrint(checkpoint=p),
                 DiffusionPrint.from_export, lambda p: load_frozen_encoder(p, random_init=True)):
        with pytest.raises(ExportMetadataError) as err:
            load(path)
        msg = str(err.value)
        assert 'liar.safetensors' in msg and named in msg and 'width=4' in msg, msg
        assert '\n' not in msg


def test_consistent_and_partial_metadata_still_load(tmp_path, no_huge_dncnn):
    path = _lying_export(str(tmp_path / 'ok.safetensors'))
    assert read_export_metadata(path)['architecture'] == ARCH
    # an export without recorded architecture takes it from the tensors
    net = DnCNN(3, 8, depth=3, width=4)
    save_modality_export(str(tmp_path / 'bare.safetensors'), net.state_dict(), {})
    modality = DiffusionPrint(checkpoint=str(tmp_path / 'bare.safetensors'))
    assert (modality.dncnn.width, modality.dncnn.depth, modality.out_channels) == (4, 3, 8)


def test_export_with_inconsistent_tensors_or_values_is_refused(tmp_path):
    sd = DnCNN(3, 8, depth=4, width=4).state_dict()
    sd['5.weight'] = torch.zeros(4, 6, 3, 3)  # an inner conv of another width
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / 'mixed.safetensors'),
              metadata={METADATA_KEY: json.dumps(dict(format=FORMAT_NAME, architecture={}))})
    with pytest.raises(ExportMetadataError, match=r'5\.weight \(4, 6, 3, 3\)'):
        read_export_metadata(str(tmp_path / 'mixed.safetensors'))
    with pytest.raises(ExportMetadataError, match='width=30000'):  # the writer checks too
        save_modality_export(str(tmp_path / 'y.safetensors'),
                             DnCNN(3, 8, depth=3, width=4).state_dict(),
                             dict(architecture=dict(ARCH, width=30000)))
    assert not osp.exists(tmp_path / 'y.safetensors')
    path = str(tmp_path / 'div.safetensors')
    save_file({k: v.contiguous() for k, v in DnCNN(3, 8, depth=3, width=4).state_dict().items()},
              path, metadata={METADATA_KEY: json.dumps(dict(format=FORMAT_NAME,
                                                            pixel_divisor=float('nan')))})
    with pytest.raises(ExportMetadataError, match='pixel_divisor=nan'):
        DiffusionPrint(checkpoint=path)


def test_gaussian_input_filter_spec_is_checked(tmp_path):
    """The authors' filter (``dict(type='gaussian', sigma=...)``) is accepted; a sigma
    that would build a blur kernel of 6e6 x 6e6 taps is refused before building."""
    tensors = {k: v.contiguous() for k, v in DnCNN(3, 8, depth=3, width=4).state_dict().items()}
    for sigma, ok in ((1.0, True), (1e6, False), (float('inf'), False)):
        path = str(tmp_path / f'g{sigma}.safetensors')
        meta = dict(format=FORMAT_NAME, architecture=ARCH,
                    input_highpass=dict(type='gaussian', sigma=sigma))
        save_file(tensors, path, metadata={METADATA_KEY: json.dumps(meta)})
        if ok:
            assert DiffusionPrint(checkpoint=path).high_pass is not None
        else:
            with pytest.raises(ExportMetadataError, match='sigma'):
                DiffusionPrint(checkpoint=path)
