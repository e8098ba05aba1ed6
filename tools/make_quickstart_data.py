"""Generate instill's quickstart instruction data: src/instill/data/quickstart.jsonl and quickstart_chat.jsonl.

The quickstart recipe instruction-tunes a tiny model (about 2M parameters, a BPE vocabulary of about 2,000 tokens
trained on this data) for a few minutes on a CPU. A model that small can only learn data that is short, regular
and deterministic, so every task here has one right answer in a fixed answer template, many instances, and two
to four phrasings of its instruction (FLAN-style), so the model learns the task and not one wording.

quickstart.jsonl holds about 3,000 single-turn records, 16 tasks in 6 clusters, each line
{"instruction", "input", "output", "task", "cluster"} (the Alpaca fields plus task and cluster; `input` holds a
list, word or sentence where the task has one, else ""). No (instruction, input) pair appears twice.
quickstart_chat.jsonl holds 150 two-turn chats in the OpenAI messages format, where the second question refers
back to the first answer ("And which continent is it on?").

Everything is written here by hand: the fact tables below are small literals (city names in plain ASCII, e.g.
Bogota, Brasilia), and no outside dataset is read. Run it with the standard library only; seed 0 makes the
output byte-for-byte reproducible:

    .venv/bin/python tools/make_quickstart_data.py
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

SEED = 0
PER_TASK = 200  # records per task; the closed-book QA tasks have fewer possible questions and use all of them
CHAT_COUNTS = {"capital_then_continent": 40, "continent_then_capital": 30, "animal_then_flower": 12,
               "antonym_then_back": 22, "add_then_add": 23, "sort_then_reverse": 23}
OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "instill" / "data"

# ---------------------------------------------------------------------------------------------------- fact tables

# name, capital, continent; `the_name` adds "the" where English uses it ("the Netherlands").
COUNTRIES = [
    ("France", "Paris", "Europe"), ("Germany", "Berlin", "Europe"), ("Italy", "Rome", "Europe"),
    ("Spain", "Madrid", "Europe"), ("Portugal", "Lisbon", "Europe"), ("United Kingdom", "London", "Europe"),
    ("Ireland", "Dublin", "Europe"), ("Netherlands", "Amsterdam", "Europe"), ("Austria", "Vienna", "Europe"),
    ("Sweden", "Stockholm", "Europe"), ("Norway", "Oslo", "Europe"), ("Finland", "Helsinki", "Europe"),
    ("Denmark", "Copenhagen", "Europe"), ("Poland", "Warsaw", "Europe"), ("Greece", "Athens", "Europe"),
    ("Egypt", "Cairo", "Africa"), ("Kenya", "Nairobi", "Africa"), ("Nigeria", "Abuja", "Africa"),
    ("Morocco", "Rabat", "Africa"), ("Ghana", "Accra", "Africa"), ("Ethiopia", "Addis Ababa", "Africa"),
    ("Japan", "Tokyo", "Asia"), ("China", "Beijing", "Asia"), ("India", "New Delhi", "Asia"),
    ("South Korea", "Seoul", "Asia"), ("Thailand", "Bangkok", "Asia"), ("Vietnam", "Hanoi", "Asia"),
    ("Malaysia", "Kuala Lumpur", "Asia"), ("Pakistan", "Islamabad", "Asia"), ("Bangladesh", "Dhaka", "Asia"),
    ("Nepal", "Kathmandu", "Asia"), ("Philippines", "Manila", "Asia"),
    ("Canada", "Ottawa", "North America"), ("United States", "Washington, D.C.", "North America"),
    ("Mexico", "Mexico City", "North America"), ("Cuba", "Havana", "North America"),
    ("Brazil", "Brasilia", "South America"), ("Argentina", "Buenos Aires", "South America"),
    ("Chile", "Santiago", "South America"), ("Peru", "Lima", "South America"),
    ("Colombia", "Bogota", "South America"),
    ("Australia", "Canberra", "Oceania"), ("New Zealand", "Wellington", "Oceania"), ("Fiji", "Suva", "Oceania"),
]
NAMES_WITH_THE = {"United Kingdom", "Netherlands", "United States", "Philippines"}

# Only symbols that are official or firmly established; countries without a clear one are left out.
NATIONAL_ANIMAL = {
    "India": "Bengal tiger", "Bangladesh": "Bengal tiger", "Pakistan": "markhor", "Nepal": "cow",
    "Canada": "beaver", "Malaysia": "Malayan tiger", "Thailand": "elephant", "Finland": "brown bear",
}
NATIONAL_FLOWER = {
    "India": "lotus", "Bangladesh": "water lily", "Pakistan": "jasmine", "Nepal": "rhododendron",
    "Malaysia": "hibiscus", "Finland": "lily of the valley", "United States": "rose", "Mexico": "dahlia",
    "Australia": "golden wattle", "South Korea": "rose of Sharon",
}

# Each word appears in exactly one pair, so "the opposite of X" has one answer in both directions.
ANTONYMS = [
    ("hot", "cold"), ("big", "small"), ("tall", "short"), ("fast", "slow"), ("happy", "sad"), ("up", "down"),
    ("in", "out"), ("open", "closed"), ("light", "dark"), ("day", "night"), ("good", "bad"), ("young", "old"),
    ("early", "late"), ("full", "empty"), ("hard", "soft"), ("wet", "dry"), ("rich", "poor"), ("thick", "thin"),
    ("strong", "weak"), ("loud", "quiet"), ("clean", "dirty"), ("near", "far"), ("push", "pull"), ("win", "lose"),
    ("buy", "sell"), ("first", "last"), ("high", "low"), ("above", "below"), ("inside", "outside"),
    ("true", "false"), ("yes", "no"), ("love", "hate"), ("easy", "difficult"), ("cheap", "expensive"),
    ("always", "never"), ("asleep", "awake"), ("before", "after"), ("top", "bottom"), ("north", "south"),
    ("east", "west"), ("sweet", "sour"), ("wide", "narrow"), ("alive", "dead"), ("remember", "forget"),
]

PLURALS = {
    "child": "children", "man": "men", "woman": "women", "mouse": "mice", "goose": "geese", "tooth": "teeth",
    "foot": "feet", "person": "people", "ox": "oxen", "sheep": "sheep", "fish": "fish", "deer": "deer",
    "leaf": "leaves", "knife": "knives", "wolf": "wolves", "half": "halves", "life": "lives", "loaf": "loaves",
    "potato": "potatoes", "tomato": "tomatoes", "hero": "heroes", "city": "cities", "baby": "babies",
    "lady": "ladies", "party": "parties", "story": "stories", "box": "boxes", "bus": "buses", "fox": "foxes",
    "glass": "glasses", "dish": "dishes", "church": "churches", "watch": "watches", "brush": "brushes",
    "class": "classes", "key": "keys", "boy": "boys", "day": "days", "toy": "toys", "cat": "cats", "dog": "dogs",
    "book": "books", "tree": "trees", "apple": "apples", "car": "cars", "house": "houses", "bird": "birds",
    "chair": "chairs", "pen": "pens", "cup": "cups", "girl": "girls", "river": "rivers", "star": "stars",
    "shoe": "shoes", "hat": "hats", "egg": "eggs", "boat": "boats", "horse": "horses", "cow": "cows",
    "mountain": "mountains", "phone": "phones", "table": "tables",
}

LIST_WORDS = [
    "apple", "banana", "cherry", "grape", "lemon", "mango", "orange", "peach", "pear", "plum",
    "cat", "dog", "cow", "horse", "sheep", "goat", "duck", "fish", "bird", "lion",
    "red", "blue", "green", "yellow", "pink", "black", "white", "brown",
    "book", "pen", "cup", "chair", "table", "lamp", "door", "car", "bus", "ship", "train", "bike",
]

SPELL_WORDS = [
    "cat", "dog", "sun", "moon", "star", "tree", "book", "milk", "fish", "bird", "frog", "lamp", "door", "rain",
    "snow", "wind", "ship", "road", "hand", "foot", "home", "ball", "cake", "rice", "egg", "corn", "bean", "rose",
    "leaf", "king", "baby", "girl", "boy", "farm", "town", "city", "park", "hill", "lake", "sea", "sky", "gold",
    "ring", "bell", "drum", "kite", "boat", "car", "bus", "cup", "pen", "hat", "bed", "box", "map", "key",
    "red", "blue", "green", "pink", "apple", "lemon", "bread", "water", "house", "horse", "mouse", "river",
    "smile", "chair",
]

PHRASE_ADJECTIVES = ["red", "blue", "green", "big", "small", "happy", "old", "new", "warm", "cold", "little",
                     "good", "quiet", "fast", "bright", "sweet"]
PHRASE_NOUNS = ["apple", "dog", "cat", "house", "car", "book", "day", "tree", "bird", "song", "river", "room",
                "cake", "garden", "friend", "morning", "city", "boat"]

POSITIVE_WORDS = ["good", "great", "wonderful", "lovely", "excellent", "amazing", "pleasant", "fantastic",
                  "delightful", "nice", "perfect", "brilliant"]
NEGATIVE_WORDS = ["bad", "terrible", "awful", "boring", "horrible", "poor", "dull", "dreadful", "unpleasant",
                  "disappointing", "annoying", "weak"]
POSITIVE_VERBS = ["love", "like", "enjoyed", "adore"]
NEGATIVE_VERBS = ["hate", "dislike", "hated", "disliked"]
REVIEW_NOUNS = ["movie", "book", "meal", "hotel", "trip", "song", "game", "park", "show", "restaurant", "party",
                "class", "concert", "story", "lesson"]

# ------------------------------------------------------------------------------------------------ instructions

PHRASINGS = {
    "country_capital": ["What is the capital of {c}?", "Name the capital city of {c}.",
                        "Tell me the capital of {c}.", "Which city is the capital of {c}?"],
    "capital_country": ["{city} is the capital of which country?", "Which country has {city} as its capital?",
                        "Of which country is {city} the capital?", "Name the country whose capital is {city}."],
    "country_continent": ["Which continent is {c} in?", "On which continent is {c}?",
                          "What continent is {c} located in?", "Name the continent where {c} is."],
    "national_symbol": ["What is the national {kind} of {c}?", "Name the national {kind} of {c}.",
                        "Tell me the national {kind} of {c}.", "Which {kind} is the national {kind} of {c}?"],
    "addition": ["What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.", "What is the sum of {a} and {b}?"],
    "subtraction": ["What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} - {b}.",
                    "What is {a} take away {b}?"],
    "even_odd": ["Is {n} even or odd?", "Tell me whether {n} is even or odd.", "Is the number {n} odd or even?"],
    "sort_numbers": ["Sort these numbers from smallest to largest.", "Put these numbers in ascending order.",
                     "Arrange these numbers in increasing order."],
    "reverse_list": ["Reverse the order of these words.", "Write these words in reverse order.",
                     "List these words from last to first."],
    "first_item": ["What is the first item in this list?", "Give the first word of this list."],
    "last_item": ["What is the last item in this list?", "Give the last word of this list."],
    "count_items": ["How many items are in this list?", "Count the items in this list.",
                    "How many things does this list have?"],
    "uppercase": ["Write this in capital letters.", "Convert this text to uppercase.",
                  "Rewrite this phrase in all caps."],
    "spell_backwards": ["Spell this word backwards.", "Spell this word from the last letter to the first.",
                        "Reverse the letters of this word."],
    "antonym": ["What is the opposite of {w}?", "Give the opposite of the word {w}.",
                "Name a word that means the opposite of {w}."],
    "plural": ["What is the plural of {w}?", "Give the plural form of {w}.", "Write the plural of the word {w}."],
    "sentiment": ["Is this sentence positive or negative?",
                  "Classify the sentiment of this sentence as positive or negative.",
                  "Does this sentence sound positive or negative?"],
}

# ----------------------------------------------------------------------------------------------------- helpers


def the_name(country: str) -> str:
    """'Netherlands' -> 'the Netherlands'; 'France' -> 'France'."""
    return f"the {country}" if country in NAMES_WITH_THE else country


def sentence(text: str) -> str:
    """Capitalise the first letter and end with one full stop ("Washington, D.C." keeps its own)."""
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def join_items(items: list) -> str:
    return ", ".join(str(x) for x in items)


def record(instruction: str, output: str, task: str, cluster: str, input: str = "") -> dict:
    return {"instruction": instruction, "input": input, "output": output, "task": task, "cluster": cluster}


def pick(rng: random.Random, candidates: list[dict], n: int = PER_TASK) -> list[dict]:
    """Up to n of the candidates, drawn without replacement; all of them when there are fewer."""
    return rng.sample(candidates, min(n, len(candidates)))


def draw_unique(rng: random.Random, draw, n: int = PER_TASK) -> list[dict]:
    """Call draw(rng) until n records with distinct (instruction, input) pairs are collected."""
    seen, out = set(), []
    for _ in range(n * 50):
        rec = draw(rng)
        key = (rec["instruction"], rec["input"])
        if key not in seen:
            seen.add(key)
            out.append(rec)
            if len(out) == n:
                break
    return out


def capital_answer(country: str, capital: str) -> str:
    return sentence(f"the capital of {the_name(country)} is {capital}")


def continent_answer(country: str, continent: str) -> str:
    return sentence(f"{the_name(country)} is in {continent}")


def symbol_answer(country: str, kind: str, thing: str) -> str:
    return sentence(f"the national {kind} of {the_name(country)} is the {thing}")


def spell(word: str) -> str:
    return "-".join(word)


def a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ------------------------------------------------------------------------------------------ closed-book QA


def country_capital(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p.format(c=the_name(c)), capital_answer(c, city), "country_capital", "closed_book_qa")
                      for c, city, _ in COUNTRIES for p in PHRASINGS["country_capital"]])


def capital_country(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p.format(city=city).replace("..", "."), sentence(f"{city} is the capital of {the_name(c)}"),
                             "capital_country", "closed_book_qa")
                      for c, city, _ in COUNTRIES for p in PHRASINGS["capital_country"]])


def country_continent(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p.format(c=the_name(c)), continent_answer(c, cont), "country_continent",
                             "closed_book_qa")
                      for c, _, cont in COUNTRIES for p in PHRASINGS["country_continent"]])


def national_symbol(rng: random.Random) -> list[dict]:
    facts = [("animal", c, a) for c, a in NATIONAL_ANIMAL.items()]
    facts += [("flower", c, f) for c, f in NATIONAL_FLOWER.items()]
    return pick(rng, [record(p.format(kind=kind, c=the_name(c)), symbol_answer(c, kind, thing),
                             "national_symbol", "closed_book_qa")
                      for kind, c, thing in facts for p in PHRASINGS["national_symbol"]])


# ------------------------------------------------------------------------------------------------ arithmetic


def addition(rng: random.Random) -> list[dict]:
    def draw(rng):
        a, b = rng.randint(0, 50), rng.randint(0, 50)
        return record(rng.choice(PHRASINGS["addition"]).format(a=a, b=b), f"{a} plus {b} is {a + b}.",
                      "addition", "arithmetic")
    return draw_unique(rng, draw)


def subtraction(rng: random.Random) -> list[dict]:
    def draw(rng):
        a = rng.randint(0, 50)
        b = rng.randint(0, a)
        return record(rng.choice(PHRASINGS["subtraction"]).format(a=a, b=b), f"{a} minus {b} is {a - b}.",
                      "subtraction", "arithmetic")
    return draw_unique(rng, draw)


def even_odd(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p.format(n=n), f"{n} is {'even' if n % 2 == 0 else 'odd'}.", "even_odd", "arithmetic")
                      for n in range(101) for p in PHRASINGS["even_odd"]])


# ------------------------------------------------------------------------------------------ list manipulation


def number_list(rng: random.Random) -> list[int]:
    return rng.sample(range(1, 51), rng.randint(3, 6))


def word_list(rng: random.Random) -> list[str]:
    return rng.sample(LIST_WORDS, rng.randint(3, 6))


def sort_numbers(rng: random.Random) -> list[dict]:
    def draw(rng):
        nums = number_list(rng)
        return record(rng.choice(PHRASINGS["sort_numbers"]), join_items(sorted(nums)), "sort_numbers",
                      "list_manipulation", input=join_items(nums))
    return draw_unique(rng, draw)


def reverse_list(rng: random.Random) -> list[dict]:
    def draw(rng):
        words = word_list(rng)
        return record(rng.choice(PHRASINGS["reverse_list"]), join_items(words[::-1]), "reverse_list",
                      "list_manipulation", input=join_items(words))
    return draw_unique(rng, draw)


def first_last_item(rng: random.Random) -> list[dict]:
    def draw(rng):
        items = word_list(rng) if rng.random() < 0.7 else number_list(rng)
        which = rng.choice(["first", "last"])
        item = items[0] if which == "first" else items[-1]
        return record(rng.choice(PHRASINGS[f"{which}_item"]), f"The {which} item is {item}.", "first_last_item",
                      "list_manipulation", input=join_items(items))
    return draw_unique(rng, draw)


def count_items(rng: random.Random) -> list[dict]:
    def draw(rng):
        items = word_list(rng) if rng.random() < 0.7 else number_list(rng)
        return record(rng.choice(PHRASINGS["count_items"]), f"There are {len(items)} items in the list.",
                      "count_items", "list_manipulation", input=join_items(items))
    return draw_unique(rng, draw)


# ---------------------------------------------------------------------------------------------- string editing


def uppercase(rng: random.Random) -> list[dict]:
    def draw(rng):
        phrase = f"{rng.choice(PHRASE_ADJECTIVES)} {rng.choice(PHRASE_NOUNS)}"
        if rng.random() < 0.5:
            phrase = f"the {phrase}"
        return record(rng.choice(PHRASINGS["uppercase"]), phrase.upper(), "uppercase", "string_editing",
                      input=phrase)
    return draw_unique(rng, draw)


def spell_backwards(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p, spell(w[::-1]), "spell_backwards", "string_editing", input=w)
                      for w in SPELL_WORDS for p in PHRASINGS["spell_backwards"]])


# ---------------------------------------------------------------------------------------------- word knowledge


def antonym(rng: random.Random) -> list[dict]:
    pairs = ANTONYMS + [(b, a) for a, b in ANTONYMS]
    return pick(rng, [record(p.format(w=w), f"The opposite of {w} is {opp}.", "antonym", "word_knowledge")
                      for w, opp in pairs for p in PHRASINGS["antonym"]])


def plural(rng: random.Random) -> list[dict]:
    return pick(rng, [record(p.format(w=w), f"The plural of {w} is {pl}.", "plural", "word_knowledge")
                      for w, pl in PLURALS.items() for p in PHRASINGS["plural"]])


# ---------------------------------------------------------------------------------------------- classification


def review_sentence(rng: random.Random, positive: bool) -> str:
    """One short sentence whose sentiment follows from the lexicon word(s) in it."""
    adjs = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    verbs = POSITIVE_VERBS if positive else NEGATIVE_VERBS
    noun, adj = rng.choice(REVIEW_NOUNS), rng.choice(adjs)
    other = rng.choice([w for w in adjs if w != adj])
    templates = [f"The {noun} was {adj}.", f"This {noun} is really {adj}.", f"I think the {noun} was {adj}.",
                 f"I {rng.choice(verbs)} this {noun}.", f"What {a_or_an(adj)} {adj} {noun}!",
                 f"The {noun} was {adj} and {other}."]
    return rng.choice(templates)


def sentiment(rng: random.Random) -> list[dict]:
    def draw(rng):
        positive = rng.random() < 0.5
        return record(rng.choice(PHRASINGS["sentiment"]), "positive" if positive else "negative", "sentiment",
                      "classification", input=review_sentence(rng, positive))
    return draw_unique(rng, draw)


TASKS = [country_capital, capital_country, country_continent, national_symbol, addition, subtraction, even_odd,
         sort_numbers, reverse_list, first_last_item, count_items, uppercase, spell_backwards, antonym, plural,
         sentiment]

# ------------------------------------------------------------------------------------------------------ chats


def chat(q1: str, a1: str, q2: str, a2: str) -> dict:
    turns = [("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2)]
    return {"messages": [{"role": r, "content": c} for r, c in turns], "task": "chat_followup"}


def capital_then_continent(rng: random.Random) -> list[dict]:
    follow = ["And which continent is it on?", "Which continent is that country in?", "And what continent is it in?"]
    return [chat(rng.choice(PHRASINGS["country_capital"]).format(c=the_name(c)), capital_answer(c, city),
                 rng.choice(follow), continent_answer(c, cont)) for c, city, cont in COUNTRIES]


def continent_then_capital(rng: random.Random) -> list[dict]:
    follow = ["And what is its capital?", "What is the capital of that country?", "Which city is its capital?"]
    return [chat(rng.choice(PHRASINGS["country_continent"]).format(c=the_name(c)), continent_answer(c, cont),
                 rng.choice(follow), capital_answer(c, city)) for c, city, cont in COUNTRIES]


def animal_then_flower(rng: random.Random) -> list[dict]:
    out = []
    for c in [c for c in NATIONAL_ANIMAL if c in NATIONAL_FLOWER]:
        for first, second in (("animal", "flower"), ("flower", "animal")):
            table = {"animal": NATIONAL_ANIMAL, "flower": NATIONAL_FLOWER}
            out.append(chat(rng.choice(PHRASINGS["national_symbol"]).format(kind=first, c=the_name(c)),
                            symbol_answer(c, first, table[first][c]),
                            rng.choice([f"And the national {second}?", f"What about its national {second}?"]),
                            symbol_answer(c, second, table[second][c])))
    return out


def antonym_then_back(rng: random.Random) -> list[dict]:
    follow = ["And what is the opposite of that?", "What is the opposite of that word?"]
    pairs = ANTONYMS + [(b, a) for a, b in ANTONYMS]
    return [chat(rng.choice(PHRASINGS["antonym"]).format(w=w), f"The opposite of {w} is {opp}.",
                 rng.choice(follow), f"The opposite of {opp} is {w}.") for w, opp in pairs]


def add_then_add(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(200):
        a, b, c = rng.randint(0, 30), rng.randint(0, 30), rng.randint(1, 20)
        follow = rng.choice([f"Now add {c} to that.", f"And what is that plus {c}?"])
        out.append(chat(rng.choice(PHRASINGS["addition"]).format(a=a, b=b), f"{a} plus {b} is {a + b}.",
                        follow, f"{a + b} plus {c} is {a + b + c}."))
    return out


def sort_then_reverse(rng: random.Random) -> list[dict]:
    follow = ["Now reverse that list.", "Now write them from largest to smallest."]
    out = []
    for _ in range(200):
        nums = number_list(rng)
        q1 = f"{rng.choice(PHRASINGS['sort_numbers'])}\n\n{join_items(nums)}"
        out.append(chat(q1, join_items(sorted(nums)), rng.choice(follow), join_items(sorted(nums, reverse=True))))
    return out


def unique_chats(candidates: list[dict]) -> list[dict]:
    """Drop chats whose user turns repeat an earlier one."""
    seen, out = set(), []
    for c in candidates:
        key = tuple(m["content"] for m in c["messages"] if m["role"] == "user")
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


CHATS = [capital_then_continent, continent_then_capital, animal_then_flower, antonym_then_back, add_then_add,
         sort_then_reverse]

# ------------------------------------------------------------------------------------------------------- main


def check(records: list[dict]) -> None:
    keys = [(r["instruction"], r["input"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicate (instruction, input) pairs"
    assert all(r["instruction"].strip() and r["output"].strip() for r in records), "empty instruction or output"
    words = [w for a, b in ANTONYMS for w in (a, b)]
    assert len(words) == len(set(words)), "a word appears in two antonym pairs"


def write_jsonl(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    records = [rec for task in TASKS for rec in task(rng)]
    rng.shuffle(records)
    check(records)
    chats = []
    for make in CHATS:
        chats += rng.sample(unique_chats(make(rng)), CHAT_COUNTS[make.__name__])
    rng.shuffle(chats)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_jsonl(records, OUT_DIR / "quickstart.jsonl")
    write_jsonl(chats, OUT_DIR / "quickstart_chat.jsonl")

    by_task = Counter((r["cluster"], r["task"]) for r in records)
    for (cluster, task), n in sorted(by_task.items()):
        print(f"{cluster:18} {task:22} {n:5}")
    print(f"{'total':41} {len(records):5}  -> {OUT_DIR / 'quickstart.jsonl'}")
    for name, n in CHAT_COUNTS.items():
        print(f"{'chat_followup':18} {name:22} {n:5}")
    print(f"{'total':41} {len(chats):5}  -> {OUT_DIR / 'quickstart_chat.jsonl'}")


if __name__ == "__main__":
    main()
