"""evaluate module folder (see the README.md card); the metric is the .py file of the same name."""
