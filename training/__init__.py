"""Training, evaluation, dataset tooling and promotion for the triage engine."""
