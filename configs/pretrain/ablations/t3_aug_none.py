# Table 3, "None": no augmentation.
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(data_preprocessor=dict(flip=False))
