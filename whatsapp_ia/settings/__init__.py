"""Settings modules: base (complete, embedded default), production (tightens), test."""
