"""Runtime fixes mmdeploy 1.3.1 needs on this stack (torch 2.14, numpy 1.26),
applied from our side; mmdeploy's installed files stay untouched."""
