# The simulator's patch set (tools/simulate.py + tools/build_patches.py --patch-size 32),
# read in the main process: the data of the tiny CPU twins.
_base_ = './pretrain_patches.py'
data_root = 'data/sim/pretrain_patches'
generators = ['simnn', 'simbl', 'simtc']
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, generators=generators))
