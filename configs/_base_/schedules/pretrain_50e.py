# The authors' training schedule (train_diffusionprint.py defaults; the paper gives none):
# Adam lr 1e-3 with weight decay 1e-4 (L2, torch.optim.Adam), StepLR every 10 epochs x 0.1,
# gradient clipping at norm 10, 50 epochs.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-3,  # --lr 1e-3
                                    weight_decay=1e-4),  # --weight_decay 1e-4
                     clip_grad=dict(max_norm=10.0))  # --grad_clip 10
param_scheduler = [dict(type='StepLR', step_size=10, gamma=0.1, by_epoch=True)]  # --lr_step 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50)  # --epochs 50
auto_scale_lr = dict(enable=False, base_batch_size=512)
