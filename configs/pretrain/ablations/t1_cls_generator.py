# Table 1, Cls head "Generator" (C_cls = 4): the final configuration, i.e. the paper
# ablation default plus the generator-aware head.
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py'
