"""Schema-Guided Dialogue: read the dataset, compile system turns into single-step RL samples, write rubrics."""
