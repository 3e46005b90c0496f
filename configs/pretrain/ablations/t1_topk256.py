# Table 1, Top-k 256.
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(topk=256)
