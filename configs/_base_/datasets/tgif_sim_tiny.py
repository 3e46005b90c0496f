# datasets/tgif_sim.py at 128 px crops for 2 CPU cores (no worker processes).
_base_ = ['./tgif_sim.py']
crop_size = (128, 128)
train_pipeline = [dict(step, crop_size=crop_size) if step.type == 'RandomCropPad' else step
                  for step in _base_.train_pipeline]  # tgif_sim.py's, with this crop
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
