"""The shipped training configs (``pose.yaml``, ``clean.yaml``, ``real.yaml``, ``camera.yaml``), read by
``posetraj.training.config.load_config``; a package so that wheels include them."""
