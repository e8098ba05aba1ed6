"""Reading comprehension over generated passages about made-up people and towns, and one common-sense variant.

Passages are filled from templates, so each question's answer is a span of its passage, and each question kind has
one fixed wording (which makes "write the question for this answer" determined too). The common-sense task pairs a
short situation with a question whose answer needs one step from a bundled table (glass breaks on a stone floor).
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

WOMEN = ["Anna", "Clara", "Emma", "Grace", "Iris", "Kate", "Mia", "Olivia", "Rosa", "Tina", "Wendy", "Lena", "Nora"]
MEN = ["Ben", "David", "Felix", "Henry", "Jack", "Leo", "Noah", "Paul", "Sam", "Victor", "Omar", "Hugo", "Ivan"]
TOWNS = ["Millbrook", "Ashford", "Cedarville", "Brookfield", "Riverton", "Oakdale", "Maplewood", "Stonebridge",
         "Fairhaven", "Elmstead", "Pinecrest", "Westvale", "Hollowmere", "Greystone"]
JOBS = [("baker", "bakery"), ("teacher", "school"), ("nurse", "hospital"), ("cook", "hotel"), ("librarian", "library"),
        ("mechanic", "garage"), ("vet", "animal clinic"), ("cashier", "supermarket"), ("pharmacist", "pharmacy"),
        ("gardener", "park")]
PETS = ["cat", "dog", "rabbit", "parrot", "hamster", "tortoise", "goat", "pony"]
PET_NAMES = ["Biscuit", "Pepper", "Max", "Luna", "Coco", "Rocky", "Daisy", "Ziggy", "Bruno", "Poppy", "Mango", "Olive"]
HOBBIES = ["go fishing", "paint pictures", "play chess", "ride a bike", "bake bread", "sing in a choir",
           "walk in the hills", "read comics", "grow tomatoes", "play football"]
FOODS = ["pizza", "soup", "pancakes", "rice", "noodles", "apple pie", "fish stew", "salad", "curry", "dumplings"]
DAYS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


def _person(rng: random.Random) -> dict:
    woman = rng.random() < 0.5
    name = rng.choice(WOMEN if woman else MEN)
    job, work = rng.choice(JOBS)
    return {"name": name, "she": "she" if woman else "he", "her": "her" if woman else "his", "town": rng.choice(TOWNS),
            "job": job, "work": work, "pet": rng.choice(PETS), "pet_name": rng.choice(PET_NAMES),
            "hobby": rng.choice(HOBBIES), "day": rng.choice(DAYS), "food": rng.choice(FOODS)}


def _person_passage(rng: random.Random, p: dict) -> str:
    n, she, her = p["name"], p["she"].capitalize(), p["her"].capitalize()
    body = [f"{she} works as a {p['job']} at the {p['work']}.",
            f"{she} has a {p['pet']} called {p['pet_name']}.",
            f"On {p['day']}, {p['she']} likes to {p['hobby']}.",
            f"{her} favorite food is {p['food']}."]
    rng.shuffle(body)
    first = rng.choice([f"{n} lives in the town of {p['town']}.", f"{n} is from a small town called {p['town']}."])
    return " ".join([first] + body)


def _person_question(p: dict, kind: str) -> tuple[str, str]:
    n = p["name"]
    return {
        "town": (f"Where does {n} live?", p["town"]),
        "job": (f"What is {n}'s job?", p["job"]),
        "work": (f"Where does {n} work?", f"the {p['work']}"),
        "pet_name": (f"What is the name of {n}'s {p['pet']}?", p["pet_name"]),
        "pet": (f"What kind of pet does {n} have?", p["pet"]),
        "day": (f"On which days does {n} like to {p['hobby']}?", p["day"]),
        "hobby": (f"What does {n} like to do on {p['day']}?", p["hobby"]),
        "food": (f"What is {n}'s favorite food?", p["food"]),
    }[kind]


@generator("reading_person", fields=("passage", "question", "answer"))
def reading_person(rng: random.Random) -> dict:
    p = _person(rng)
    question, answer = _person_question(p, rng.choice(["town", "job", "work", "pet_name", "pet", "day", "hobby",
                                                       "food"]))
    return {"passage": _person_passage(rng, p), "question": question, "answer": answer}


RIVERS = ["Silver", "Long", "Willow", "Stone", "Swift", "Green", "Black", "Bright"]
FAMOUS = ["cheese", "old bridge", "clock tower", "flower festival", "apple orchards", "horse races", "pottery",
          "wooden boats"]
SURNAMES = ["Reed", "Fisher", "Hart", "Moss", "Lane", "Baker", "Wood", "Field", "Stone", "Marsh"]


@generator("reading_town", fields=("passage", "question", "answer", "evidence"))
def reading_town(rng: random.Random) -> dict:
    town = rng.choice(TOWNS)
    facts = {
        "river": (f"{town} is a small town on the {rng.choice(RIVERS)} River.", "Which river is {t} on?"),
        "population": (f"About {rng.randint(2, 40) * 500} people live there.", "How many people live in {t}?"),
        "famous": (f"The town is famous for its {rng.choice(FAMOUS)}.", "What is {t} famous for?"),
        "market": (f"Every {rng.choice(DAYS)[:-1]}, there is a market in the main square.",
                   "On which day is the market in {t}?"),
        "mayor": (f"The mayor of {town} is {rng.choice(WOMEN + MEN)} {rng.choice(SURNAMES)}.",
                  "Who is the mayor of {t}?"),
        "founded": (f"{town} was founded in {rng.randint(1100, 1900)}.", "When was {t} founded?"),
    }
    order = ["river"] + rng.sample(["population", "famous", "market", "mayor", "founded"], 4)
    passage = " ".join(facts[k][0] for k in order)
    kind = rng.choice(order)
    sentence = facts[kind][0]
    answer = {
        "river": lambda s: "the " + s.split(" the ")[1].rstrip("."),
        "population": lambda s: "about " + s.split()[1],
        "famous": lambda s: "its " + s.split(" its ")[1].rstrip("."),
        "market": lambda s: s.split()[1].rstrip(","),
        "mayor": lambda s: " ".join(s.rstrip(".").split()[-2:]),
        "founded": lambda s: s.rstrip(".").split()[-1],
    }[kind](sentence)
    return {"passage": passage, "question": facts[kind][1].format(t=town), "answer": answer, "evidence": sentence}


ITEMS = ["apples", "bread", "fish", "cheese", "eggs", "flowers", "rice", "honey", "carrots", "milk", "plums", "nuts"]
PLACES = ["the library", "the park", "the bank", "the post office", "the cinema", "the beach", "the museum",
          "the station"]


@generator("reading_choice", fields=("passage", "question", "answer", "choices", "topic"))
def reading_choice(rng: random.Random) -> dict:
    """Three people shop at a market and go on to three places; a question about one of them, four choices."""
    people = rng.sample(WOMEN + MEN, 3)
    items = rng.sample(ITEMS, 4)
    places = rng.sample(PLACES, 4)
    day = rng.choice(DAYS)[:-1]
    passage = (f"On {day}, {people[0]}, {people[1]} and {people[2]} went to the market. {people[0]} bought "
               f"{items[0]}, {people[1]} bought {items[1]}, and {people[2]} bought {items[2]}. After that, "
               f"{people[0]} went to {places[0]}, {people[1]} went to {places[1]}, and {people[2]} went to "
               f"{places[2]}.")
    i = rng.randrange(3)
    kind = rng.choice(["bought", "went", "who_bought", "who_went"])
    topic = {"bought": "what someone bought", "went": "where someone went", "who_bought": "who bought something",
             "who_went": "who went somewhere"}[kind]
    if kind == "bought":
        question, answer, choices = f"What did {people[i]} buy?", items[i], items[:4]
    elif kind == "went":
        question, answer, choices = f"Where did {people[i]} go after the market?", places[i], places[:4]
    elif kind == "who_bought":
        extra = rng.choice([n for n in WOMEN + MEN if n not in people])
        question, answer, choices = f"Who bought {items[i]}?", people[i], people + [extra]
    else:
        extra = rng.choice([n for n in WOMEN + MEN if n not in people])
        question, answer, choices = f"Who went to {places[i]}?", people[i], people + [extra]
    choices = list(choices)
    rng.shuffle(choices)
    return {"passage": passage, "question": question, "answer": answer, "choices": choices, "topic": topic}


# Common sense: (situation frames, question, right outcome, why). Outcomes of one question kind are distractors.
OBJECT_EVENTS = [
    (["{n} dropped a glass {x} on the stone floor.", "A glass {x} slipped from {n}'s hand and hit the tiled floor."],
     ["cup", "vase", "bowl", "jar"], "it broke", "Glass breaks easily when it hits a hard floor."),
    (["{n} dropped a rubber {x} on the floor.", "{n} threw a rubber {x} at the wall."],
     ["ball", "toy"], "it bounced", "Rubber things bounce when they hit something hard."),
    (["{n} left {her} {x} in the hot sun all afternoon.", "{n} forgot {her} {x} on a sunny windowsill in summer."],
     ["ice cream", "chocolate bar", "ice cube", "butter"], "it melted", "Heat makes these things melt."),
    (["{n} forgot to water {her} {x} for a month.", "Nobody watered the {x} in {n}'s room for many weeks."],
     ["plant", "fern", "basil"], "it dried out", "Plants need water, so without it they dry out."),
    (["{n} left a slice of {x} on the table for two weeks.", "{n} found some old {x} at the back of the cupboard."],
     ["bread", "cake", "cheese"], "it went moldy", "Old food left out for a long time goes moldy."),
    (["{n} left {her} paper {x} outside in the rain.", "{n}'s paper {x} fell into a puddle."],
     ["book", "map", "letter", "drawing"], "it got wet", "Paper gets wet in water."),
    (["{n} put a bottle of {x} in the freezer overnight.", "{n} left a cup of {x} outside on a freezing night."],
     ["water", "juice", "milk"], "it froze", "Liquids freeze when they get very cold."),
    (["{n} used {her} {x} all day and never charged it.", "{n} played games on {her} {x} for ten hours."],
     ["phone", "tablet", "laptop"], "its battery ran out", "Using a device without charging empties its battery."),
]
FEELING_EVENTS = [
    (["{n} lost {her} favorite {x}.", "{n} could not find {her} {x} anywhere, and it was {her} favorite."],
     ["toy", "scarf", "book", "pen"], "sad", "Losing something you love makes you sad."),
    (["{n} won first prize in the {x} contest.", "{n}'s {x} won the top award at the fair."],
     ["drawing", "cake", "poetry", "singing"], "happy", "Winning a prize makes people happy."),
    (["{n} heard a strange {x} outside in the dark.", "Late at night, {n} heard a loud {x} at the window."],
     ["noise", "scratching", "howl", "bang"], "scared", "Strange sounds in the dark make people scared."),
    (["{n} had not eaten anything since {x}.", "{n} skipped breakfast and lunch on a busy day."],
     ["the morning", "yesterday", "dawn", "the night before"], "hungry", "Going without food makes you hungry."),
    (["{n} ran {x} kilometers up the hill.", "{n} carried heavy boxes for {x} hours."],
     ["ten", "twelve", "fifteen", "eight"], "tired", "Hard work or exercise for a long time makes you tired."),
    (["Someone broke {n}'s {x} on purpose.", "A boy stole {n}'s {x} and laughed about it."],
     ["bike", "kite", "toy car", "guitar"], "angry", "People feel angry when someone harms their things on purpose."),
]


@generator("commonsense_outcome", fields=("passage", "question", "answer", "choices", "chain_of_thought"))
def commonsense_outcome(rng: random.Random) -> dict:
    woman = rng.random() < 0.5
    n, her = rng.choice(WOMEN if woman else MEN), "her" if woman else "his"
    feeling = rng.random() < 0.4
    table = FEELING_EVENTS if feeling else OBJECT_EVENTS
    frames, objects, answer, why = rng.choice(table)
    x = rng.choice(objects)
    event = rng.choice(frames).format(n=n, her=her, x=x)
    event = event[0].upper() + event[1:]
    opener = rng.choice(["", f"It was a quiet {rng.choice(DAYS)[:-1]}. ", "Yesterday was busy. ", "Last week, "])
    if opener == "Last week, ":
        event = event[0].lower() + event[1:] if not event.startswith(n) else event
    if feeling:
        question = rng.choice([f"How did {n} probably feel?", f"How would {n} most likely feel?"])
    else:
        question = rng.choice([f"What most likely happened to the {x}?", f"What probably happened to the {x}?"])
    # the choices follow from the visible text alone (a seed made of it), so one question never reaches two splits
    # with its choices in two orders
    local = random.Random(f"{opener}{event}|{question}")
    others = [row[2] for row in table if row[2] != answer]
    choices = local.sample(others, 3) + [answer]
    local.shuffle(choices)
    return {"passage": opener + event, "question": question, "answer": answer, "choices": choices,
            "chain_of_thought": why}
