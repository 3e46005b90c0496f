# The simulator's TGIF-layout set for MMFusion: training/validation on the three training
# generators' semantic masks (+ authentic images, which the detection phase needs),
# testing on every generator (incl. held-out simps) and mask type. Batch 8 (x 3
# accumulation in schedules/mmfusion_sgd.py) as the MMFusion authors' early-fusion runs.
_base_ = ['./tgif_sim.py']
train_generators = ['simnn', 'simbl', 'simtc']
train_dataloader = dict(batch_size=8,
                        dataset=dict(generators=train_generators))
val_dataloader = dict(dataset=dict(generators=train_generators))
