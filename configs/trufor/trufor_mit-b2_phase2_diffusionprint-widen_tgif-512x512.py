# trufor_mit-b2_phase2_diffusionprint-simple_tgif-512x512.py with the 'widen' modality adapter
# (docs/trufor.md), the only line the DiffusionPrint variants differ in.
_base_ = ['./trufor_mit-b2_phase2_diffusionprint-simple_tgif-512x512.py']
model = dict(adapter='widen')
