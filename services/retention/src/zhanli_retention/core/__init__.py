"""Pure retention math: early-warning rules, point-in-time feature snapshots, the
discrete-time hazard dataset, cohort validation split, survival metrics, the effect of
interventions and the demo ground truth. No I/O, no framework."""
