# CPU-sized twin of mmfusion_early.py (same classes and code path): MiT-B0 widths with
# one block per stage, 64-channel heads, 64 px crops.
_base_ = ['./mmfusion_early.py']
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(embed_dims=32, num_layers=[1, 1, 1, 1], drop_path_rate=0.0),
    decode_head=dict(in_channels=[32, 64, 160, 256], channels=64),
    conf_head=dict(in_channels=[32, 64, 160, 256], channels=64))
