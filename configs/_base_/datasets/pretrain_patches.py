# Patch set written by tools/build_patches.py (or the authors' tooling): index CSV +
# uint8 memmap. `generators` fixes the generator head's classes (real = 0).
dataset_type = 'PatchPairDataset'
data_root = 'data/pretrain_patches'
generators = ['sd2', 'sdxl', 'flux']
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='patch_pair_collate'),  # batches built by the dataset
    dataset=dict(type=dataset_type, data_root=data_root, generators=generators,
                 ann_file='patches.csv', data_file='patches.dat'))
