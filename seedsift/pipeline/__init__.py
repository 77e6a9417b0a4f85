"""The workflow around the steps: config validation, generated docs, graphs, rerun, status."""
