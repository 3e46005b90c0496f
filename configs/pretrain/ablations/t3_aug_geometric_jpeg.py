# Table 3, "Geometric + JPEG": random JPEG, QF 70-95 with probability 0.5.
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(data_preprocessor=dict(jpeg=dict(_delete_=True, quality=(70, 95),
                                             prob=0.5)))  # base: None
