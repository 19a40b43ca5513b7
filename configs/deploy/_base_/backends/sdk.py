# Copied unchanged from mmdeploy v1.3.1 (commit bc75c9d6), configs/_base_/backends/sdk.py.
# Copyright (c) OpenMMLab. All rights reserved. Apache License 2.0, see
# tools/mmdeploy/LICENSE.
backend_config = dict(type='sdk')
