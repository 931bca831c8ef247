"""Reports built from the store: the plain per-system summary (paper tables come later)."""
