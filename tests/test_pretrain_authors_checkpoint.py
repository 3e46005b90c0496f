"""Authors' training checkpoints trained with an input filter: their filter is applied,
or the checkpoint is refused; never loaded silently into a different model.

Facts of the authors' code (mever-team/diffusionprint, builders/diffusionprint.py and
train_diffusionprint.py): the checkpoint is ``{'epoch', 'model_state_dict',
'optimizer_state_dict', 'scheduler_state_dict', 'args': vars(args)}``; ``args`` holds
``input_highpass`` (bool), ``input_highpass_sigma`` (default 1.0), ``anchor_bandpass``
and ``highpass_prob``. With ``input_highpass`` every input is ``x - blur(x)``, blur a
depthwise conv with the normalised 2-D Gaussian of side ``2 * ceil(3 sigma) + 1``
(at least 3, odd) and zero padding, registered as buffer ``hp_kernel`` (3, 1, k, k);
their ``extract`` applies it before ``encoder_q`` on ``ToTensor()`` inputs.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from dp_plugin.modalities import CheckpointFormatError, DiffusionPrint
from dp_plugin.modalities.checkpoint_formats import load_dncnn_state_dict
from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.pretrain.export import export_backbone
from pretrain_synth import one_thread  # noqa: F401 (autouse)

ARGS = dict(mode='projector', num_levels=17, hidden_features=64, out_channels=64,
            input_highpass=True, input_highpass_sigma=1.0, anchor_bandpass=False,
            bandpass_low_sigma=3.0, bandpass_high_sigma=0.5, highpass_prob=0.0,
            exclude_generators=None, lr=1e-3, batch_size=256)


def _gaussian(sigma):
    side = max(3, 2 * math.ceil(3 * sigma) + 1)
    r = torch.arange(side, dtype=torch.float64) - side // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g).float()


def _write(path, args=ARGS, kernel=True, extra=None):
    torch.manual_seed(0)
    net = DnCNN(3, 64, depth=17, width=64)
    with torch.no_grad():  # He init: the input reaches the output through 17 layers
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, math.sqrt(2 / m.weight[0].numel()))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    sd = {f'encoder_q.{k}': v for k, v in net.state_dict().items()}
    sd.update({f'encoder_k.{k}': v + 1 for k, v in net.state_dict().items()})
    sd.update({'projector_q.net.0.weight': torch.randn(512, 64),
               'queue': torch.randn(128, 16), 'queue_ptr': torch.zeros(1, dtype=torch.long)})
    if kernel:
        sd['hp_kernel'] = _gaussian(1.0)[None, None].repeat(3, 1, 1, 1)
    sd.update(extra or {})
    ckpt = dict(epoch=50, model_state_dict=sd, optimizer_state_dict={})
    if args is not None:
        ckpt['args'] = dict(args)
    torch.save(ckpt, path)
    return net.eval()


def _their_extract(net, x):
    k = _gaussian(1.0)[None, None].repeat(3, 1, 1, 1)
    return net(x - F.conv2d(x, k, padding=k.shape[-1] // 2, groups=3))


def test_highpass_checkpoint_reproduces_their_filtered_features(tmp_path):
    path = str(tmp_path / 'checkpoint_final.pth')
    net = _write(path)
    x = torch.rand(1, 3, 40, 36)
    with torch.no_grad():
        expect = _their_extract(net, x)
        modality = DiffusionPrint(checkpoint=path).eval()
        assert modality.input_highpass == dict(type='gaussian', sigma=1.0)
        got = modality(x)
        torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-4)
        unfiltered = net(x)
        assert (unfiltered - expect).abs().max() > 0.1 * expect.abs().max()
        # the export keeps the filter
        out = str(tmp_path / 'dp.safetensors')
        meta = export_backbone(path, out)
        assert meta['input_highpass'] == dict(type='gaussian', sigma=1.0)
        torch.testing.assert_close(DiffusionPrint(checkpoint=out).eval()(x), expect,
                                   rtol=1e-4, atol=1e-4)
    # the filter is also found without `args`, from the hp_kernel buffer
    bare = str(tmp_path / 'bare.pth')
    _write(bare, args=None)
    assert DiffusionPrint(checkpoint=bare).input_highpass == dict(type='gaussian', sigma=1.0)


def test_other_filter_or_none_is_refused(tmp_path):
    path = str(tmp_path / 'hp.pth')
    _write(path)
    with pytest.raises(CheckpointFormatError, match=r"input_highpass.*True"):
        DiffusionPrint(checkpoint=path, input_highpass=0)  # explicitly off
    with pytest.raises(CheckpointFormatError, match='input_highpass'):
        DiffusionPrint(checkpoint=path, input_highpass=0.1)  # the FFT filter
    with pytest.raises(CheckpointFormatError, match='input_highpass'):
        load_dncnn_state_dict(path, DnCNN())  # a caller without a filter
    plain = str(tmp_path / 'plain.pth')
    _write(plain, args=dict(ARGS, input_highpass=False), kernel=False)
    assert DiffusionPrint(checkpoint=plain).high_pass is None


@pytest.mark.parametrize('key,args,extra', [
    ('anchor_bandpass', dict(ARGS, input_highpass=False, anchor_bandpass=True), {}),
    ('highpass_prob', dict(ARGS, input_highpass=False, highpass_prob=0.5), {}),
    ('hp_kernel', dict(ARGS, input_highpass_sigma=2.0), {}),
])
def test_unreproducible_filters_are_refused_naming_the_key(tmp_path, key, args, extra):
    path = str(tmp_path / 'x.pth')
    _write(path, args=args, kernel=key != 'anchor_bandpass' and key != 'highpass_prob',
           extra=extra)
    with pytest.raises(CheckpointFormatError, match=key):
        DiffusionPrint(checkpoint=path)
    with pytest.raises(CheckpointFormatError, match=key):
        load_dncnn_state_dict(path, DnCNN())


def test_pretrainer_trains_with_the_authors_filter():
    from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
    from dp_plugin.modalities.high_pass import GaussianHighPass
    model = DiffusionPrintPretrainer(
        backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=8,
        queue_size=8, data_preprocessor=dict(input_highpass=dict(type='gaussian', sigma=1.0)))
    assert isinstance(model.data_preprocessor.high_pass, GaussianHighPass)
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    model.eval()
    ref = x.float() / 255
    k = _gaussian(1.0)[None, None].repeat(3, 1, 1, 1)
    torch.testing.assert_close(model.data_preprocessor.prepare(x),
                               ref - F.conv2d(ref, k, padding=3, groups=3))
    with pytest.raises(ValueError, match='gaussian'):
        DiffusionPrintPretrainer(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8),
                                 data_preprocessor=dict(input_highpass=dict(type='laplacian')))
