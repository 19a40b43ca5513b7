"""Deployment of kp_plugins models.

``kp_plugins.deploy.mmdeploy_support`` makes mmdeploy 1.3.1 convert and
evaluate every kp head. It imports mmdeploy, so only the deploy configs in
``configs/deploy/`` load it (``custom_imports``); ``import kp_plugins`` and
``import kp_plugins.deploy`` never do.
"""
