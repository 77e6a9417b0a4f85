"""Jobs on SSH GPU nodes: the node inventory, the placer and the run manifest."""
