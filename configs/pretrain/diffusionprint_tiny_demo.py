# The demo's pretraining (tools/demo.py and tools/check_claims.py): the tiny CPU twin for
# 8 epochs on the demo's smaller simulated set (about 45 s of CPU time, one thread).
# Every claims-check variant is this config plus one --cfg-options change.
_base_ = './diffusionprint_tiny_cpu.py'
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
