# CPU-sized twin of models/trufor_phase3.py (MiT-B0 widths, 128-wide heads).
_base_ = ['./trufor_phase3.py']
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(embed_dims=32, num_layers=[1, 1, 1, 1], drop_path_rate=0.0),
    decode_head=dict(in_channels=[32, 64, 160, 256], channels=128),
    conf_head=dict(in_channels=[32, 64, 160, 256], channels=128))
