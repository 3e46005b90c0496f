# Table 1, Channels "1 (flatten)": C = 1, flatten + linear projector, no flips.
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(backbone=dict(out_channels=1), projector='flatten',
             data_preprocessor=dict(flip=False))
