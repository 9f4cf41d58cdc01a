"""MI estimators on paired samples: estimate_mi, its held-out protocol, and the flow and Gaussian estimators."""
