# Table 1, Channels "256 (GAP)".
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(backbone=dict(out_channels=256))
