# The authors' training schedule (train_diffusionprint.py defaults; the paper gives none):
# Adam lr 1e-3 with weight decay 1e-4 (L2, torch.optim.Adam), StepLR every 10 epochs x 0.1,
# gradient clipping at norm 10, 50 epochs.
# Speed only (docs/pretraining.md, Speed): encoders in bf16 autocast where the device runs
# bf16 natively (AVX512-BF16/AMX CPUs, Ampere+ GPUs), fp16 + loss scaling on older GPUs,
# fp32 elsewhere; loss, queue and weights fp32. dtype='float32' is the plain fp32 step.
optim_wrapper = dict(type='MixedPrecisionOptimWrapper', dtype='auto',
                     optimizer=dict(type='Adam', lr=1e-3,  # --lr 1e-3
                                    weight_decay=1e-4),  # --weight_decay 1e-4
                     clip_grad=dict(max_norm=10.0))  # --grad_clip 10
param_scheduler = [dict(type='StepLR', step_size=10, gamma=0.1, by_epoch=True)]  # --lr_step 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50)  # --epochs 50
auto_scale_lr = dict(enable=False, base_batch_size=512)
