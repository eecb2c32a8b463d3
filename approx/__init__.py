"""approx package."""
