# CPU-sized twin of models/trufor.py: MiT-B0 widths with one block per stage, 128-wide
# heads, 64 px crops. Same classes and code path as the paper model.
_base_ = ['./trufor.py']
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(embed_dims=32, num_layers=[1, 1, 1, 1], drop_path_rate=0.0),
    decode_head=dict(in_channels=[32, 64, 160, 256], channels=128))
