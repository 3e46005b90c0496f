# DiffusionPrint contrastive pretraining model, family `paper`: the paper's ablation
# default (§4.2); where the paper is silent, the authors' script
# (mever-team/diffusionprint train_diffusionprint.py); each line gives its source.
model = dict(
    type='DiffusionPrintPretrainer',
    backbone=dict(type='DnCNN',  # paper §4.1: a DnCNN (registered in dp_plugin's MODELS)
                  depth=17, width=64,  # paper §4.1: 17 layers of 64 channels
                  out_channels=64),  # paper §4.2: default C = 64
    projector='mlp',  # paper §3.3: GAP + two-layer MLP
    proj_hidden=128,  # paper §3.3: hidden dimension 128 (authors' script: 512)
    projector_bn=False,  # paper §3.3: a two-layer MLP, no normalisation named
    embed_dim=128,  # paper §3.3: g: R^C -> R^128
    patch_size=64,  # paper §4.1: 64 x 64 patches
    momentum=0.999,  # paper §3.5
    queue_size=65536,  # paper §4.2
    topk=512,  # paper §3.5, §4.2
    temperature=0.07,  # paper §3.5
    num_classes=0,  # paper §4.2: no classification head by default
    cls_weight=0.0,  # paper §4.2 (lambda_cls = 0)
    head_input='projection',  # paper §3.6: the head sits on the projected embedding
    enqueue_pool=True,  # paper §3.4: negatives mined from the pool
    enqueue_positives=False,  # paper §3.4 / authors' script: only pool patches are queued
    neg_batch_size=128,  # paper silent; authors' script: --neg_batch_size 128 per step
    in_batch_negatives=False,  # paper §3.5: negatives from the queue only
    channels_last=True,  # speed only (docs/pretraining.md, Speed); False: NCHW
    compile=False,  # speed only: True compiles the encoders (GPU, minutes of warm-up)
    data_preprocessor=dict(  # the views of a step; its channels_last is the model's
        type='PatchPairDataPreprocessor',  # uint8 -> /255, augmentations, input filter
        pairing='patch',  # paper §3.4
        flip=True,  # paper §3.3, §4.2: random horizontal and vertical flips
        flip_per_batch=False,  # paper: random flips, per patch (authors' script: per batch)
        jpeg=None,  # paper §4.2: geometric augmentation only
        input_highpass=None))  # paper §4.2: no filter
