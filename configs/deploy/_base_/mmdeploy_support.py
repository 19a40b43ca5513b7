# Loads kp_plugins.deploy.mmdeploy_support when mmdeploy reads a deploy config
# (mmengine imports `custom_imports` at load time). For every deploy config it
# makes mmdeploy's export use the TorchScript exporter (torch >= 2.9 defaults
# to the dynamo exporter, which mmdeploy 1.3.1's rewriters do not support),
# and it registers the `kp_end2end` backend model of the kp deploy configs.
custom_imports = dict(
    imports=['kp_plugins.deploy.mmdeploy_support'],
    allow_failed_imports=False)
