# The simulator's TGIF-layout set for MMFusion: tgif_sim.py (training/validation on the
# three training generators' semantic masks + authentic images, which the detection phase
# needs; testing on every generator, incl. held-out simps, and mask type) with batch 8
# (x 3 accumulation in schedules/mmfusion_sgd.py) as the MMFusion authors' early-fusion runs.
_base_ = ['./tgif_sim.py']
train_dataloader = dict(batch_size=8)
