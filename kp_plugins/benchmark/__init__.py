"""Speed, size and accuracy benchmarks of the approaches (not imported by ``import kp_plugins``)."""
