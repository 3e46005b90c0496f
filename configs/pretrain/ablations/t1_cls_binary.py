# Table 1, Cls head "Binary": real / inpainted head (C_cls = 2).
_base_ = '../diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
model = dict(num_classes=2, cls_weight=1.0)
