# The paper's final DiffusionPrint (Table 1 "Generator"): the `paper` ablation default
# plus the generator-aware head (real + 3 training generators, C_cls = 4, §3.6).
_base_ = './diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(num_classes=4,
             cls_weight=1.0)  # lambda_cls: the paper gives no value (authors' default 0 = off)
