"""Export packages: assets fitted to a platform's presets, labelled as AI-made, zipped with a manifest."""
