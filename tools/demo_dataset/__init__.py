"""make_demo_dataset: a real-sound, AudioSet-labelled demo dataset built from Debian packages (spec/data.md 5)."""
