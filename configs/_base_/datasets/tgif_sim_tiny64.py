# datasets/tgif_sim_tiny.py with 64 px training crops (heavier two-stream models on a
# crowded 2-core CPU); validation and test still run on the full 128 px images.
_base_ = ['./tgif_sim_tiny.py']
crop_size = (64, 64)
train_pipeline = [dict(step, crop_size=crop_size) if step.type == 'RandomCropPad' else step
                  for step in _base_.train_pipeline]  # tgif_sim_tiny.py's, with this crop
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
