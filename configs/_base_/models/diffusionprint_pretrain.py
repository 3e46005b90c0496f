# DiffusionPrint contrastive pretraining model: the paper's ablation default
# (§4.2: DnCNN-17, C = 64 GAP + MLP(128) projector, k = 512, no classification head,
# geometric augmentation, tau 0.07, m 0.999, queue 65 536).
model = dict(
    type='DiffusionPrintPretrainer',
    backbone=dict(depth=17, width=64, out_channels=64),
    projector='mlp',
    proj_hidden=128,  # the authors' code uses 512
    embed_dim=128,
    patch_size=64,
    momentum=0.999,
    queue_size=65536,
    topk=512,
    temperature=0.07,
    num_classes=0,
    cls_weight=0.0,
    pairing='patch',
    flip=True,
    jpeg=None,
    input_highpass=None,
    enqueue_pool=True,
    in_batch_negatives=False)
