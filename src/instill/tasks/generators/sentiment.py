"""Sentiment of short generated sentences and reviews, built from a bundled lexicon.

Every positive word has one fixed negative partner (wonderful <-> awful), so a sentence's sentiment follows from the
one lexicon word in it, and "make this sentence negative" has exactly one answer: the same sentence with that word
swapped for its partner. Neutral sentences state plain facts and use no lexicon word.
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

# (positive, negative) adjectives; each word appears once.
ADJ_PAIRS = [
    ("good", "bad"), ("great", "terrible"), ("wonderful", "awful"), ("lovely", "horrible"), ("excellent", "poor"),
    ("amazing", "dreadful"), ("pleasant", "unpleasant"), ("fantastic", "disappointing"), ("interesting", "boring"),
    ("exciting", "dull"), ("delightful", "annoying"), ("beautiful", "ugly"), ("fun", "tedious"), ("nice", "nasty"),
    ("brilliant", "weak"), ("charming", "dreary"),
]
# (positive, negative) past-tense verbs for "I loved this movie."
VERB_PAIRS = [("loved", "hated"), ("enjoyed", "disliked"), ("adored", "despised")]
NOUNS = ["movie", "book", "meal", "hotel", "trip", "song", "game", "park", "show", "restaurant", "party", "class",
         "concert", "story", "lesson", "museum", "beach", "album", "play", "tour", "cafe", "festival", "garden", "film"]
PEOPLE = ["my sister", "my brother", "my friends", "my parents", "my teacher", "my neighbor", "everyone", "the critics"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

POSITIVE = {p for p, _ in ADJ_PAIRS + VERB_PAIRS}
PARTNER = {**{p: n for p, n in ADJ_PAIRS + VERB_PAIRS}, **{n: p for p, n in ADJ_PAIRS + VERB_PAIRS}}


def a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _frame(rng: random.Random, noun: str, verb: bool, day: str, who: str):
    """A sentence frame: a function from the sentiment word to the sentence."""
    if verb:
        return rng.choice([
            lambda w: f"I {w} this {noun}.",
            lambda w: f"We {w} the {noun} last {day}.",
            lambda w: f"Honestly, I {w} the {noun}.",
            lambda w: f"{who.capitalize()} {w} the {noun}.",
        ])
    return rng.choice([
        lambda w: f"The {noun} was {w}.",
        lambda w: f"This {noun} is really {w}.",
        lambda w: f"I think the {noun} was {w}.",
        lambda w: f"What {a_or_an(w)} {w} {noun}!",
        lambda w: f"It was {a_or_an(w)} {w} {noun}.",
        lambda w: f"{who.capitalize()} said the {noun} was {w}.",
        lambda w: f"The {noun} on {day} was {w}.",
        lambda w: f"Overall, the {noun} felt {w}.",
    ])


def _sentence(rng: random.Random, positive: bool) -> dict:
    day, who = rng.choice(DAYS), rng.choice(PEOPLE)
    noun = rng.choice(NOUNS)
    verb = rng.random() < 0.25
    pairs = VERB_PAIRS if verb else ADJ_PAIRS
    word = rng.choice(pairs)[0 if positive else 1]
    frame = _frame(rng, noun, verb, day, who)
    return {"sentence": frame(word), "flipped": frame(PARTNER[word]), "word": word, "noun": noun}


def _cot(word: str, label: str) -> str:
    return f"The word \"{word}\" is {label}. It is the only word in the sentence that shows a feeling. So the sentence is {label}."


@generator("sentence_sentiment", fields=("sentence", "answer", "sentiment_word", "opposite", "flipped",
                                         "chain_of_thought"))
def sentence_sentiment(rng: random.Random) -> dict:
    positive = rng.random() < 0.5
    s = _sentence(rng, positive)
    label, other = ("positive", "negative") if positive else ("negative", "positive")
    return {"sentence": s["sentence"], "answer": label, "sentiment_word": s["word"], "opposite": other,
            "flipped": s["flipped"], "chain_of_thought": _cot(s["word"], label)}


def _neutral(rng: random.Random) -> str:
    noun = rng.choice(NOUNS)
    day, who_ = rng.choice(DAYS), rng.choice(PEOPLE)
    return rng.choice([
        f"The {noun} was on {day}.",
        f"I went to the {noun} with {who_}.",
        f"The {noun} lasted {rng.randint(2, 5)} hours.",
        f"The {noun} started at {rng.randint(1, 11)} o'clock.",
        f"We talked about the {noun} on {day}.",
        f"{who_.capitalize()} told me about the {noun}.",
        f"The {noun} had {rng.randint(2, 9)} parts.",
        f"I heard about the {noun} last {day}.",
    ])


@generator("sentiment_three_way", fields=("sentence", "answer", "chain_of_thought"))
def sentiment_three_way(rng: random.Random) -> dict:
    label = rng.choice(["positive", "negative", "neutral"])
    if label == "neutral":
        return {"sentence": _neutral(rng), "answer": "neutral",
                "chain_of_thought": "The sentence only states a fact. It has no word that shows a good or bad "
                                    "feeling. So the sentence is neutral."}
    s = _sentence(rng, label == "positive")
    return {"sentence": s["sentence"], "answer": label, "chain_of_thought": _cot(s["word"], label)}


@generator("review_liked", fields=("review", "noun", "answer", "label", "sentiment_words", "chain_of_thought"))
def review_liked(rng: random.Random) -> dict:
    """A review of two or three sentences: one or two lexicon sentences of one polarity, maybe a neutral fact."""
    positive = rng.random() < 0.5
    noun = rng.choice(NOUNS)
    n_opinions = rng.choice([1, 2, 2])
    adjs = [p[0 if positive else 1] for p in rng.sample(ADJ_PAIRS, n_opinions)]
    day = rng.choice(DAYS)
    opinion_frames = [
        lambda w: f"The {noun} was {w}.", lambda w: f"It was {a_or_an(w)} {w} {noun}.",
        lambda w: f"Everything about it felt {w}.", lambda w: f"I found it {w} from start to finish.",
        lambda w: f"All in all, it was {w}.", lambda w: f"My time there was {w}.",
    ]
    first = rng.choice([f"This is my review of the {noun}.", f"I checked out the {noun} on {day}.",
                        f"I tried the {noun} last {day}."])
    frames = rng.sample(opinion_frames[1:], n_opinions - 1)
    sentences = [first, opinion_frames[0](adjs[0])] + [f(w) for f, w in zip(frames, adjs[1:])]
    if rng.random() < 0.5:
        sentences = sentences[1:] + sentences[:1]
    label = "positive" if positive else "negative"
    words = ", ".join(adjs)
    plural = len(adjs) > 1
    cot = (f"The review uses the word{'s' if plural else ''} {words}. "
           f"{'These are' if plural else 'This is'} {label}. So the reviewer "
           f"{'liked' if positive else 'did not like'} the {noun}.")
    return {"review": " ".join(sentences), "noun": noun, "answer": "yes" if positive else "no", "label": label,
            "sentiment_words": words, "chain_of_thought": cot}


# aspect -> (positive, negative) pairs that fit it; a review praises one aspect and criticises another
ASPECTS = {
    "restaurant": {"food": [("delicious", "bland"), ("tasty", "awful")], "service": [("fast", "slow"), ("friendly", "rude")],
                   "prices": [("fair", "high"), ("low", "outrageous")], "music": [("lovely", "loud"), ("pleasant", "annoying")]},
    "hotel": {"room": [("clean", "dirty"), ("spacious", "cramped")], "staff": [("friendly", "rude"), ("helpful", "unhelpful")],
              "breakfast": [("delicious", "cold"), ("tasty", "stale")], "beds": [("comfortable", "hard"), ("soft", "lumpy")]},
    "phone": {"screen": [("bright", "dim"), ("sharp", "blurry")], "battery": [("strong", "weak"), ("reliable", "poor")],
              "camera": [("excellent", "poor"), ("sharp", "blurry")], "speaker": [("clear", "quiet"), ("loud", "tinny")]},
    "movie": {"acting": [("brilliant", "wooden"), ("excellent", "poor")], "story": [("gripping", "boring"), ("clever", "silly")],
              "music": [("beautiful", "forgettable"), ("moving", "annoying")], "ending": [("satisfying", "confusing"), ("perfect", "weak")]},
}


@generator("aspect_sentiment", fields=("review", "subject", "aspect", "answer", "aspect_word", "chain_of_thought"))
def aspect_sentiment(rng: random.Random) -> dict:
    subject = rng.choice(sorted(ASPECTS))
    a1, a2 = rng.sample(sorted(ASPECTS[subject]), 2)
    first_positive = rng.random() < 0.5
    w1 = rng.choice(ASPECTS[subject][a1])[0 if first_positive else 1]
    w2 = rng.choice(ASPECTS[subject][a2])[1 if first_positive else 0]
    v1 = "was" if not a1.endswith("s") else "were"
    v2 = "was" if not a2.endswith("s") else "were"
    review = rng.choice([
        f"The {a1} {v1} {w1}, but the {a2} {v2} {w2}.",
        f"At this {subject}, the {a1} {v1} {w1}. However, the {a2} {v2} {w2}.",
        f"I have mixed feelings about this {subject}. The {a1} {v1} {w1} but the {a2} {v2} {w2}.",
        f"The {a1} {v1} {w1}. The {a2}, on the other hand, {v2} {w2}.",
    ])
    ask_first = rng.random() < 0.5
    aspect, word = (a1, w1) if ask_first else (a2, w2)
    positive = first_positive == ask_first
    label = "positive" if positive else "negative"
    cot = f"The review says the {aspect} {v1 if ask_first else v2} {word}. \"{word}\" is {label} about the {aspect}."
    return {"review": review, "subject": subject, "aspect": aspect, "answer": label, "aspect_word": word,
            "chain_of_thought": cot}
