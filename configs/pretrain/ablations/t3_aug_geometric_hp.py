# Table 3, "Geometric + HP Filter": FFT high-pass blocking f_norm <= 0.1 (paper §4.3).
# (The authors' Gaussian input_highpass is dict(type='gaussian', sigma=1.0).)
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(data_preprocessor=dict(input_highpass=0.1))
