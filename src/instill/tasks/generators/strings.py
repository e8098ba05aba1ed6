"""String-editing instances (change case, spell backwards, spell out, replace a word, drop vowels, count letters),
plus the small word tables the other rule-based generators share. Every word is a short, common, lowercase ASCII
English word, so answers are short and the rules are what a model has to learn."""

from __future__ import annotations

import random

from instill.tasks.generators import generator

# Common nouns (3 to 8 letters), used for lists, phrases and sentences.
NOUNS = (
    "apple", "ball", "bed", "bell", "bird", "boat", "book", "bottle", "box", "bread", "bridge", "brush", "cake",
    "car", "card", "chair", "clock", "cloud", "coat", "cup", "desk", "dog", "door", "drum", "egg", "farm",
    "field", "fish", "flag", "floor", "flower", "fork", "frog", "garden", "gate", "glass", "hat", "hill", "horse",
    "house", "key", "kite", "lamp", "leaf", "letter", "lion", "map", "milk", "moon", "mouse", "nest", "note",
    "pen", "pencil", "piano", "plate", "pond", "queen", "rain", "ring", "river", "road", "rock", "rope", "sand",
    "ship", "shoe", "shop", "sock", "spoon", "star", "stone", "sun", "table", "tent", "tiger", "tower", "town",
    "tree", "truck", "wall", "window", "wolf", "wood",
)
ADJECTIVES = (
    "big", "small", "red", "blue", "green", "old", "new", "happy", "quiet", "loud", "fast", "slow", "warm",
    "cold", "tall", "short", "soft", "bright", "dark", "little", "young", "clean", "brave", "lazy",
)
# Past-tense verbs that take an object: "the old dog saw the red ball".
VERBS = (
    "saw", "found", "moved", "liked", "pushed", "pulled", "carried", "painted", "watched", "dropped", "kept",
    "washed", "followed", "chased", "opened", "cleaned", "lifted", "fixed",
)
# Words for letter games: common, 3 to 9 letters.
WORDS = tuple(sorted(set(NOUNS) | set(ADJECTIVES) | {
    "water", "music", "paper", "orange", "yellow", "purple", "summer", "winter", "garden", "planet", "basket",
    "button", "candle", "dinner", "doctor", "family", "friend", "guitar", "island", "jacket", "kitten", "ladder",
    "market", "monkey", "number", "pillow", "rabbit", "school", "silver", "sister", "spider", "street", "teacher",
    "ticket", "turtle", "wizard", "animal", "banana", "camera", "circle", "cookie", "forest", "hammer", "magnet",
    "morning", "picture", "rainbow", "sandwich", "window", "zebra", "train", "plant", "smile", "dream", "light",
    "night", "storm", "heart", "grape", "lemon", "money", "ocean", "party", "robot", "snake", "sugar", "tooth",
    "beach", "candy", "chicken", "cheese", "corner", "cotton", "dragon", "feather", "finger", "giant", "honey",
    "jungle", "kitchen", "lizard", "mirror", "needle", "orbit", "parrot", "pepper", "pocket", "puzzle", "rocket",
    "saddle", "shadow", "shell", "silk", "skirt", "sleep", "snow", "soup", "spring", "square", "stamp", "sweet",
    "thunder", "tomato", "travel", "valley", "violin", "wagon", "whale", "wheel", "whistle", "yard", "zipper",
    "anchor", "arrow", "badge", "barn", "battery", "blanket", "castle", "chalk", "copper", "crown", "desert",
}))
VOWELS = frozenset("aeiou")


def phrase(rng: random.Random, low: int = 2, high: int = 4) -> list[str]:
    """A few distinct common words (not a sentence): the raw material of case and formatting tasks."""
    return rng.sample(WORDS, rng.randint(low, high))


def sentence_words(rng: random.Random) -> list[str]:
    """A short sentence as words: 'the old dog saw the red ball' (two different nouns)."""
    n1, n2 = rng.sample(NOUNS, 2)
    a1, a2 = rng.sample(ADJECTIVES, 2)
    return ["the", a1, n1, rng.choice(VERBS), "the", a2, n2]


@generator("uppercase", fields=("text", "answer"))
def uppercase(rng: random.Random) -> dict:
    text = " ".join(phrase(rng, 1, 3))
    return {"text": text, "answer": text.upper()}


@generator("spell_backwards", fields=("word", "answer"), exhaustive=True)
def spell_backwards(rng: random.Random) -> list[dict]:
    return [{"word": w, "answer": w[::-1]} for w in WORDS]


@generator("spell_out", fields=("word", "answer"), exhaustive=True)
def spell_out(rng: random.Random) -> list[dict]:
    return [{"word": w, "answer": " ".join(w)} for w in WORDS]


@generator("replace_word", fields=("sentence", "old", "new", "answer"))
def replace_word(rng: random.Random) -> dict:
    words = sentence_words(rng)
    # Replace one of the two nouns or one of the two adjectives with a word of the same kind that is not there yet,
    # so the replacement can be undone exactly (the inverted templates).
    pos = rng.choice([1, 2, 5, 6])
    table = ADJECTIVES if pos in (1, 5) else NOUNS
    new = rng.choice([w for w in table if w not in words])
    old = words[pos]
    out = list(words)
    out[pos] = new
    return {"sentence": " ".join(words), "old": old, "new": new, "answer": " ".join(out)}


@generator("remove_vowels", fields=("word", "answer"), exhaustive=True)
def remove_vowels(rng: random.Random) -> list[dict]:
    return [{"word": w, "answer": "".join(c for c in w if c not in VOWELS)} for w in WORDS]


@generator("count_letters", fields=("word", "answer"), exhaustive=True)
def count_letters(rng: random.Random) -> list[dict]:
    return [{"word": w, "answer": str(len(w))} for w in WORDS]
