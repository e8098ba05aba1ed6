"""Classification by rule: word category, palindromes, primes, "does the sentence contain this word", sorted lists.
Every answer is one of a fixed set of labels (the cards' options); word tables are small and written here."""

from __future__ import annotations

import random

from instill.tasks.generators import generator
from instill.tasks.generators.strings import ADJECTIVES, NOUNS, VERBS, sentence_words

# Words that belong to exactly one of the four categories (no "orange", "plum", "jaguar", "beetle"...).
CATEGORIES = {
    "animal": ("dog", "cat", "horse", "cow", "pig", "sheep", "goat", "lion", "tiger", "bear", "wolf", "fox",
               "rabbit", "mouse", "elephant", "giraffe", "zebra", "monkey", "deer", "camel", "frog", "duck", "owl",
               "eagle", "shark", "whale", "snake", "donkey", "hippo", "kangaroo"),
    "fruit": ("apple", "banana", "grape", "pear", "mango", "melon", "starfruit", "lemon", "cherry", "strawberry",
              "pineapple", "papaya", "coconut", "apricot", "fig", "guava", "watermelon", "blueberry", "raspberry",
              "nectarine", "mandarin", "grapefruit", "pomegranate", "clementine", "lychee", "cranberry",
              "blackberry", "avocado", "persimmon", "quince"),
    "color": ("red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "gray", "violet",
              "indigo", "beige", "maroon", "cyan", "magenta", "crimson", "scarlet", "turquoise", "lavender",
              "navy", "amber", "ivory", "khaki", "charcoal", "teal", "silver", "gold", "tan", "aqua"),
    "vehicle": ("car", "bus", "truck", "train", "bicycle", "boat", "ship", "plane", "taxi", "van", "tram",
                "scooter", "tractor", "motorcycle", "helicopter", "canoe", "yacht", "jeep", "ambulance", "sled",
                "wagon", "rocket", "subway", "ferry", "limousine", "trolley", "submarine", "airship", "minibus",
                "bulldozer"),
}

PALINDROMES = (
    "level", "radar", "noon", "civic", "kayak", "refer", "madam", "racecar", "rotor", "stats", "tenet", "wow",
    "mom", "dad", "pop", "eye", "peep", "deed", "solos", "sagas", "did", "nun", "pup", "gag", "tot", "toot", "pip",
    "sees", "minim", "redder", "repaper", "reviver", "rotator", "ewe", "gig", "bib", "sis", "kook", "huh", "aha",
    "deified",
)
# Mostly near misses of the palindromes above (same letters, one changed or missing), then ordinary words.
NOT_PALINDROMES = (
    "lever", "radio", "noun", "civil", "kayaks", "refers", "madman", "rotate", "stars", "tenth", "mow", "mop",
    "dab", "pod", "eyes", "peel", "deep", "solo", "saga", "dig", "nut", "pun", "gap", "top", "tool", "pin", "seen",
    "mini", "redden", "paper", "revive", "motor", "few", "gift", "bit", "sit", "book", "hug", "ah", "defied",
    "apple", "house", "river", "table", "garden", "window", "music", "candle", "tiger", "planet", "robot",
    "lemon", "stone", "cloud", "winter", "pencil", "bridge", "flower", "letter", "shadow",
)


@generator("word_category", fields=("word", "answer", "choices"), exhaustive=True)
def word_category(rng: random.Random) -> list[dict]:
    out = []
    for cat, words in CATEGORIES.items():
        for word in dict.fromkeys(words):
            # the word among one word of each other category: exactly one of the choices is a `cat`
            choices = [word] + [rng.choice(ws) for c, ws in CATEGORIES.items() if c != cat]
            rng.shuffle(choices)
            out.append({"word": word, "answer": cat, "choices": ", ".join(choices)})
    return out


@generator("is_palindrome", fields=("word", "answer"), exhaustive=True)
def is_palindrome(rng: random.Random) -> list[dict]:
    words = dict.fromkeys(PALINDROMES + NOT_PALINDROMES)
    return [{"word": w, "answer": "yes" if w == w[::-1] else "no"} for w in words]


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


_PRIMES = [n for n in range(2, 1000) if _is_prime(n)]
_ODD_COMPOSITES = [n for n in range(9, 1000, 2) if not _is_prime(n)]


@generator("is_prime", fields=("number", "answer"))
def is_prime(rng: random.Random) -> dict:
    r = rng.random()
    if r < 0.4:
        n = rng.choice(_PRIMES)
    elif r < 0.75:  # odd composites, so that "odd" does not mean "prime"
        n = rng.choice(_ODD_COMPOSITES)
    else:
        n = rng.randint(0, 999)
    return {"number": n, "answer": "yes" if _is_prime(n) else "no"}


@generator("contains_word", fields=("sentence", "word", "answer"))
def contains_word(rng: random.Random) -> dict:
    words = sentence_words(rng)
    if rng.random() < 0.5:
        word = rng.choice([w for w in words if w != "the"])
    else:
        table = rng.choice((NOUNS, ADJECTIVES, VERBS))
        word = rng.choice([w for w in table if w not in words])
    return {"sentence": " ".join(words), "word": word, "answer": "yes" if word in words else "no"}


@generator("is_sorted", fields=("items", "answer"))
def is_sorted(rng: random.Random) -> dict:
    nums = sorted(rng.sample(range(100), rng.randint(3, 6)))
    r = rng.random()
    if r < 0.25:  # one neighbouring pair swapped: almost sorted
        i = rng.randrange(len(nums) - 1)
        nums[i], nums[i + 1] = nums[i + 1], nums[i]
    elif r < 0.5:
        while nums == sorted(nums):
            rng.shuffle(nums)
    return {"items": ", ".join(map(str, nums)), "answer": "yes" if nums == sorted(nums) else "no"}
