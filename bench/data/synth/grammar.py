"""A tiny seeded grammar that writes plain English sentences for the synthetic test set.

Why our own grammar: the sentences must be free to ship (no corpus licence), fully
reproducible from a seed, and simple enough that every TTS engine pronounces them
well, so that transcripts of the clean sources are trustworthy references for ASR.

Every word list below was written for this project. Sentences are lower case, words
separated by single spaces, no punctuation and no digits (numbers are spelled out),
so the ``text`` column is directly usable as an ASR reference.

Split disjointness does not rely on seeds: each sentence belongs to exactly one split
by a hash of its text (:func:`split_of`), and a split only ever emits its own
sentences. Train and test can therefore never share a sentence, whatever seeds or
sizes are used.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

MIN_WORDS = 9
"""Fewest words in a sentence: about 3 s of speech at the engines' default rates."""

MAX_WORDS = 16
"""Most words in a sentence: about 5.5 s of speech."""

SPLITS = ("test", "dev", "train")

# Share of the sentence space owned by each split (out of 100 hash buckets).
_SPLIT_BUCKETS = {"test": range(0, 10), "dev": range(10, 20), "train": range(20, 100)}

PEOPLE = (
    "farmer", "teacher", "doctor", "baker", "driver", "painter", "sailor", "student",
    "neighbour", "nurse", "pilot", "singer", "writer", "gardener", "soldier", "child",
    "stranger", "traveller", "fisherman", "shopkeeper", "carpenter", "musician",
    "officer", "captain", "waiter", "cousin", "brother", "sister", "father", "mother",
    "grandmother", "uncle", "engineer", "lawyer", "hunter", "miner",
)
PEOPLE_PLURAL = (
    "farmers", "teachers", "children", "students", "sailors", "workers", "neighbours",
    "friends", "visitors", "soldiers", "musicians", "travellers", "girls", "boys",
)
THINGS = (
    "box", "basket", "letter", "lamp", "chair", "table", "bottle", "coat", "book",
    "ladder", "bucket", "blanket", "kettle", "wheel", "rope", "map", "key", "hat",
    "bicycle", "wagon", "drum", "bell", "mirror", "candle", "parcel", "apple", "loaf",
    "jacket", "pencil", "picture", "clock", "hammer", "umbrella", "suitcase", "shovel",
    "horse", "dog", "cat", "goat", "bird",
)
THINGS_PLURAL = (
    "boxes", "baskets", "letters", "apples", "chairs", "bottles", "books", "stones",
    "flowers", "candles", "blankets", "potatoes", "eggs", "bricks", "tools", "shirts",
    "cups", "plates", "sheep", "horses", "chickens", "logs", "coins", "keys",
)
PLACES = (
    "market", "station", "river", "bridge", "garden", "village", "kitchen", "harbour",
    "school", "church", "library", "forest", "hill", "farm", "bakery", "hospital",
    "office", "square", "field", "mountain", "lake", "castle", "barn", "cottage",
    "museum", "factory", "island", "valley", "shore", "corner", "tower", "hotel",
)
ADJECTIVES = (
    "old", "young", "tall", "small", "quiet", "busy", "tired", "happy", "careful",
    "clever", "brave", "kind", "angry", "patient", "cheerful", "nervous", "gentle",
    "friendly", "lazy", "proud", "honest", "polite", "curious", "lonely",
)
THING_ADJECTIVES = (
    "heavy", "red", "blue", "green", "yellow", "wooden", "broken", "empty", "shiny",
    "large", "little", "warm", "cold", "dusty", "clean", "bright", "round", "strange",
    "golden", "wet", "brown", "white", "black", "tiny", "useful",
)
PLACE_ADJECTIVES = (
    "old", "busy", "quiet", "little", "crowded", "empty", "sunny", "dark", "distant",
    "narrow", "famous", "small", "large", "windy",
)
DETERMINERS = ("the", "a", "that", "this", "her", "his", "our", "my", "their", "every")
PLURAL_DETERMINERS = ("the", "some", "those", "these", "many", "our", "their", "several")
NUMBERS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty",
)
TRANSITIVE = (
    "carried", "found", "painted", "lifted", "opened", "fixed", "dropped", "sold",
    "bought", "cleaned", "moved", "pulled", "pushed", "washed", "hid", "brought",
    "took", "borrowed", "wrapped", "counted", "dragged", "loaded", "chose", "noticed",
    "kept", "collected", "repaired", "packed",
)
INTRANSITIVE = (
    "waited", "slept", "arrived", "sang", "laughed", "walked", "worked", "rested",
    "danced", "shouted", "stayed", "listened", "smiled", "wandered", "hurried", "sat",
    "stood", "cried", "whistled", "cooked",
)
SPEECH_VERBS = ("said", "told us", "explained", "remembered", "promised", "guessed", "heard")
ADVERBS = (
    "slowly", "quickly", "quietly", "carefully", "happily", "suddenly", "patiently",
    "loudly", "gently", "proudly", "calmly", "eagerly",
)
PREPOSITIONS = (
    "to", "from", "near", "behind", "across", "beside", "inside", "around", "past",
    "toward", "outside", "above", "below", "beyond", "through",
)
TIMES = (
    "every morning", "after lunch", "before dinner", "last winter", "on monday",
    "on friday", "at noon", "at midnight", "yesterday evening", "early in the spring",
    "late at night", "during the storm", "after the long rain", "in the summer",
    "on sunday afternoon", "before sunrise", "one cold evening", "last week",
)
CONJUNCTIONS = ("because", "while", "before", "after", "when", "although")
PREDICATES = (
    "very tired", "quite happy", "a little nervous", "rather proud", "completely lost",
    "very hungry", "glad to help", "too busy to talk", "sure of the answer",
    "late for work", "ready to leave", "afraid of the dark",
)


def _article(words: list[str]) -> list[str]:
    """Turn a leading ``a`` into ``an`` before a vowel sound (``an honest``, but ``a useful``)."""
    nxt = words[1]
    if words[0] == "a" and ((nxt[0] in "aeiou" and not nxt.startswith("use")) or nxt.startswith("hon")):
        words = ["an", *words[1:]]
    return words


class _Writer:
    """Expands the grammar's templates with one :class:`random.Random` stream."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def c(self, options: tuple[str, ...]) -> str:
        return self.r.choice(options)

    def person(self) -> list[str]:
        r = self.r.random()
        if r < 0.55:
            words = [self.c(DETERMINERS), *([self.c(ADJECTIVES)] if self.r.random() < 0.7 else []),
                     self.c(PEOPLE)]
            if words[0] == "every" and words[-1] in ("father", "mother", "grandmother", "uncle"):
                words[0] = "the"
            return _article(words)
        if r < 0.8:
            return [self.c(PLURAL_DETERMINERS), *([self.c(ADJECTIVES)] if self.r.random() < 0.5 else []),
                    self.c(PEOPLE_PLURAL)]
        return [self.c(NUMBERS), self.c(ADJECTIVES), self.c(PEOPLE_PLURAL)]

    def thing(self) -> list[str]:
        r = self.r.random()
        if r < 0.5:
            det = self.c(("the", "a", "that", "this", "her", "his", "our", "my", "their"))
            return _article([det, *([self.c(THING_ADJECTIVES)] if self.r.random() < 0.75 else []),
                             self.c(THINGS)])
        if r < 0.8:
            return [self.c(NUMBERS), *([self.c(THING_ADJECTIVES)] if self.r.random() < 0.7 else []),
                    self.c(THINGS_PLURAL)]
        return [self.c(PLURAL_DETERMINERS), self.c(THING_ADJECTIVES), self.c(THINGS_PLURAL)]

    def place(self) -> list[str]:
        det = self.c(("the", "the", "the", "a", "that", "our", "their"))
        adj = [self.c(PLACE_ADJECTIVES)] if self.r.random() < 0.5 else []
        return _article([det, *adj, self.c(PLACES)])

    def pp(self) -> list[str]:
        return [self.c(PREPOSITIONS), *self.place()]

    def clause(self) -> list[str]:
        """A short subordinate clause: someone did something (somewhere)."""
        if self.r.random() < 0.5:
            return [*self.person(), self.c(INTRANSITIVE), *self.pp()]
        return [*self.person(), self.c(TRANSITIVE), *self.thing()]

    def sentence(self) -> list[str]:
        t = self.r.randrange(8)
        if t == 0:  # the old farmer carried seven heavy boxes to the market
            return [*self.person(), self.c(TRANSITIVE), *self.thing(), *self.pp()]
        if t == 1:  # a young teacher waited quietly near the station after lunch
            adv = [self.c(ADVERBS)] if self.r.random() < 0.5 else []
            return [*self.person(), self.c(INTRANSITIVE), *adv, *self.pp(), *self.c(TIMES).split()]
        if t == 2:  # every morning my sister washed the blue bicycle behind the house
            return [*self.c(TIMES).split(), *self.person(), self.c(TRANSITIVE), *self.thing(), *self.pp()]
        if t == 3:  # the tall boy opened the box and carried the lamp to the barn
            return [*self.person(), self.c(TRANSITIVE), *self.thing(), "and", self.c(TRANSITIVE),
                    *self.thing(), *self.pp()]
        if t == 4:  # the nurse said that two children waited near the bridge
            return [*self.person(), self.c(SPEECH_VERBS), "that", *self.clause()]
        if t == 5:  # the baker was very tired because the students sang past the bakery
            subject = self.person()
            be = "were" if subject[-1] in PEOPLE_PLURAL else "was"
            return [*subject, be, self.c(PREDICATES), self.c(CONJUNCTIONS), *self.clause()]
        if t == 6:  # the pilot carried the lamp slowly while the dog slept
            return [*self.person(), self.c(TRANSITIVE), *self.thing(), self.c(ADVERBS),
                    self.c(CONJUNCTIONS), *self.clause()]
        # a curious stranger walked from the river to the old castle at noon
        return [*self.person(), self.c(INTRANSITIVE), "from", *self.place(), "to", *self.place(),
                *self.c(TIMES).split()]


def split_of(sentence: str) -> str:
    """The one split that owns ``sentence`` (10 % test, 10 % dev, 80 % train), by SHA-1 of its text."""
    bucket = int.from_bytes(hashlib.sha1(sentence.encode("utf-8")).digest()[:4], "big") % 100
    for split, buckets in _SPLIT_BUCKETS.items():
        if bucket in buckets:
            return split
    raise AssertionError("unreachable")  # pragma: no cover


def iter_sentences(split: str, seed: int) -> Iterator[str]:
    """Endless, deterministic stream of unique sentences owned by ``split``.

    The stream for ``(split, seed)`` is always the same, so asking for more sentences
    only appends to what a smaller request returned (renders stay cached).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    writer = _Writer(random.Random(f"jsac-bench-grammar/{split}/{seed}"))
    seen: set[str] = set()
    while True:
        words = " ".join(writer.sentence()).split()  # multi-word entries count word by word
        if not MIN_WORDS <= len(words) <= MAX_WORDS:
            continue
        text = " ".join(words)
        if text in seen or split_of(text) != split:
            continue
        seen.add(text)
        yield text


def make_sentences(n: int, split: str = "test", seed: int = 0) -> list[str]:
    """The first ``n`` sentences of :func:`iter_sentences` for ``split`` and ``seed``."""
    out: list[str] = []
    for text in iter_sentences(split, seed):
        if len(out) >= n:
            break
        out.append(text)
    return out
