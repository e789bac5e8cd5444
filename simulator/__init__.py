"""Environment of clickloop: ranking datasets and click models."""
