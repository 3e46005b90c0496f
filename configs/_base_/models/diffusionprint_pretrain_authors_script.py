# DiffusionPrint contrastive pretraining model, family `authors_script`: the defaults
# of the authors' script exactly (mever-team/diffusionprint train_diffusionprint.py and
# builders/diffusionprint.py, mode 'projector'). Their augmentation default is 'none';
# 'geometric' (flips) is what the paper uses, so it is on here, drawn as theirs: once
# per batch.
model = dict(
    type='DiffusionPrintPretrainer',
    # --num_levels 17, --hidden_features 64, --out_channels 256
    backbone=dict(type='DnCNN', depth=17, width=64, out_channels=256),
    projector='mlp',
    proj_hidden=512,  # --projector_hidden_dim 512
    projector_bn=True,  # their Projector: BatchNorm1d after both linears
    embed_dim=128,  # --projection_dim 128
    patch_size=64,  # image_size=64
    momentum=0.999,  # --moco_momentum
    queue_size=65536,  # --queue_size
    topk=64,  # --top_k 64
    temperature=0.07,  # --temperature
    num_classes=0,  # --cls_lambda 0.0: no head
    cls_weight=0.0,
    head_input='normalized',  # their classifier reads the normalised embedding q
    enqueue_pool=True,  # they enqueue sample_neg_batch() pool patches only
    enqueue_positives=False,
    neg_batch_size=128,  # --neg_batch_size 128
    in_batch_negatives=True,  # their loss: [l_pos, B in-batch logits, top-k]
    channels_last=True,  # speed only (docs/pretraining.md, Speed); False: NCHW
    compile=False,  # speed only: True compiles the encoders
    data_preprocessor=dict(
        type='PatchPairDataPreprocessor',
        pairing='patch',
        flip=True,  # --augmentations geometric: RandomHorizontalFlip + RandomVerticalFlip
        flip_per_batch=True,  # ... applied to the batch tensor: one draw per batch
        jpeg=None,
        input_highpass=None))  # --input_highpass off (dict(type='gaussian', sigma=1.0) on)
