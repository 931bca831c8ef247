"""Many short utterances through faster-whisper in one encoder and one decoder call.

Why not ``faster_whisper.BatchedInferencePipeline``: it batches the chunks of *one*
recording and leaves out the "no speech" rule of ``WhisperModel.transcribe`` (a window
whose no-speech probability is above 0.6 and whose mean log-probability is at most -1
gives no text), so its transcripts of poor separations differ from the one-by-one path
that DWER has always used.  This module repeats, for a batch of utterances of at most
30 s, exactly the steps ``WhisperModel.transcribe`` takes for one such utterance with
the harness's options (English, temperature 0 only, no previous-text conditioning, no
timestamps, no VAD):

1. log-mel features of each utterance on its own (Whisper normalises by each
   utterance's maximum), cut to the content frames and padded to 3000 frames;
2. one ``encode`` of the batch and one ``generate`` with the same prompt, beam size,
   patience, suppressed tokens and length limits for every item;
3. the no-speech rule, then the decoded text.

Longer utterances need Whisper's seek loop over 30 s windows and are left to the
one-by-one path (``None`` here).  Transcripts are the same as one by one except where
the batched matrix products round differently and two hypotheses were within that
rounding of each other (``benchmarks/metrics_speed.py`` counts such differences).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NO_SPEECH_THRESHOLD = 0.6  # WhisperModel.transcribe's defaults, which the one-by-one path uses
LOG_PROB_THRESHOLD = -1.0
MAX_INITIAL_TIMESTAMP = 1.0


def transcribe_batch(model, audios: Sequence[np.ndarray], beam_size: int) -> list[str | None]:
    """Text of each 16 kHz float32 utterance, ``None`` for those longer than one 30 s window.

    ``model`` is a ``faster_whisper.WhisperModel`` (English-only or multilingual; the
    language is English either way).
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    extractor = model.feature_extractor
    out: list[str | None] = [None] * len(audios)
    todo, segments = [], []
    for i, audio in enumerate(audios):
        features = extractor(np.asarray(audio, dtype=np.float32))
        content = features.shape[-1] - 1
        if content > extractor.nb_max_frames:
            continue
        if content <= 0:
            out[i] = ""  # transcribe() runs no window at all on empty audio
            continue
        todo.append(i)
        segments.append(pad_or_trim(features[:, :content]))
    if not todo:
        return out
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    encoded = model.encode(np.stack(segments))
    results = model.model.generate(
        encoded, [list(prompt) for _ in todo],
        length_penalty=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0, max_length=model.max_length,
        return_scores=True, return_no_speech_prob=True, suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        max_initial_timestamp_index=int(round(MAX_INITIAL_TIMESTAMP / model.time_precision)),
        beam_size=beam_size, patience=1.0,
    )
    for i, result in zip(todo, results):
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # length_penalty 1, as transcribe()
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and not avg_logprob > LOG_PROB_THRESHOLD:
            out[i] = ""
            continue
        out[i] = tokenizer.decode(tokens).strip()
    return out
