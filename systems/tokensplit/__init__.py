"""TokenSplit and TokenSplitRefine (Erdogan et al., Interspeech 2023): separation on token sequences."""
