"""CodeSep: joint speech separation and compression over the MDCT-RVQ codec's tokens.

BTDM (base-token disentanglement) maps the mixture's mel spectrogram to each
speaker's first-stage (base) codec tokens; ATSP (auxiliary-token serial
prediction) predicts the remaining RVQ stages from them; the codec's decoder makes
the waveforms.  Only the base tokens are transmitted: 2 x 50 frames/s x 10 bit = 1 kbps.
"""
