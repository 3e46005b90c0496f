"""The views of a bf16 training step are the fp32 views: ``train_step`` runs the data
preprocessor inside the optim wrapper's autocast, and the authors' Gaussian input filter
is a convolution, which autocast would run in bf16 (the queue fill and the exported
modality filter in fp32)."""
import torch

from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper
from pretrain_synth import one_thread  # noqa: F401 (autouse)

TINY = dict(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=16,
            queue_size=64, topk=8, proj_hidden=16, embed_dim=16, channels_last=True)


def _batch(b=6, p=16):
    g = torch.Generator().manual_seed(0)
    return dict(views=torch.randint(0, 256, (b, 4, 3, p, p), dtype=torch.uint8, generator=g),
                num_pos=torch.tensor([3, 2, 0, 3, 1, 3]),
                category=torch.tensor([0, 1, 1, 0, 1, 1]),
                gen_label=torch.tensor([0, 1, 2, 0, 3, 1]),
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, generator=g),
                neg_category=torch.tensor([1, 0, 1, 1, 0, 1]),
                neg_gen_label=torch.tensor([2, 0, 1, 3, 0, 2]),
                neg_valid=torch.ones(b, dtype=torch.long))


def test_bf16_step_feeds_the_encoders_the_fp32_filtered_views():
    """Anchor, positive and pool views reaching the encoders in a bf16 ``train_step`` equal
    the preprocessor's output outside autocast, bit for bit (same draws)."""
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(**TINY, data_preprocessor=dict(
        input_highpass=dict(type='gaussian', sigma=1.0))).train()
    wrapper = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05), dtype='bfloat16')
    seen = []
    model.online.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    model.momentum_encoder.module.encoder.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()))
    data = _batch()
    torch.manual_seed(7)
    want = model.data_preprocessor(data, True)
    torch.manual_seed(7)
    model.train_step(data, wrapper)
    anchor, keys = seen
    assert anchor.dtype == keys.dtype == torch.float32
    assert torch.equal(anchor, want['inputs'][0])
    assert torch.equal(keys, torch.cat([want['inputs'][1], want['neg']]))
