# tgif_sim_mmfusion.py for 2 CPU cores: tgif_sim_tiny64.py (64 px training crops, batch 4,
# no worker processes) with validation on 2 images per group and testing on 4 per
# generator x mask type (+4 authentic) at full size (raise max_per_group for less noisy
# numbers).
_base_ = ['./tgif_sim_tiny64.py']
val_dataloader = dict(dataset=dict(max_per_group=2))
test_dataloader = dict(dataset=dict(max_per_group=4))
