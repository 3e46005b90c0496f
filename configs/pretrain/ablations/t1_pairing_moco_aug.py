# Table 1, Pairing "MoCo": augmentation-only positives (no spatial pairs).
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(data_preprocessor=dict(pairing='moco_aug'))
