"""The shelf-counting model: training (train.py), data recipe (dataset.py), committed model."""
