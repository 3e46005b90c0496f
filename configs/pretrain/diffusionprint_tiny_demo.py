# The demo's pretraining (tools/demo.py and tools/check_claims.py): the tiny CPU twin of
# the `paper` family for 8 epochs on the demo's smaller simulated set. Every
# claims-check variant is this config plus one --cfg-options change.
_base_ = './diffusionprint_tiny_cpu.py'
train_cfg = dict(max_epochs=8)
