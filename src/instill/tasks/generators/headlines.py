"""Headline generation for short generated news paragraphs (local news and match reports).

Each story type has a fixed headline pattern and a fixed first sentence that states exactly what the headline says,
so both directions are determined: paragraph -> headline, and headline -> first sentence. The rest of a paragraph
adds details (a quote, a date, a cost) that the headline leaves out, as a real headline would.
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

TOWNS = ["Millbrook", "Ashford", "Cedarville", "Brookfield", "Riverton", "Oakdale", "Maplewood", "Stonebridge",
         "Fairhaven", "Elmstead", "Pinecrest", "Westvale", "Hollowmere", "Greystone"]
NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack", "Kate", "Leo", "Mia",
         "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tina", "Victor"]
SURNAMES = ["Reed", "Fisher", "Hart", "Moss", "Lane", "Baker", "Wood", "Field", "Stone", "Marsh", "Price", "Hill"]
FACILITIES = ["library", "swimming pool", "park", "school", "bus station", "sports hall", "hospital", "playground"]
CONTESTS = ["science", "spelling", "robotics", "chess", "debate", "math"]
SHOPS = ["bakery", "bookshop", "cafe", "bike shop", "toy shop", "flower shop", "bakery"]
STREETS = ["Main Street", "High Street", "Mill Road", "Church Lane", "Station Road", "Park Avenue"]
FESTIVALS = ["music", "food", "kite", "film", "flower", "lantern"]
MONTHS = ["March", "April", "May", "June", "July", "August", "September", "October"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"


def _local_story(rng: random.Random) -> tuple[str, str, list[str]]:
    """(headline, first sentence, further sentences) of one local news story."""
    town, who, day = rng.choice(TOWNS), _person(rng), rng.choice(DAYS)
    kind = rng.randrange(7)
    if kind == 0:
        f = rng.choice(FACILITIES)
        return (f"{town} council votes to build new {f}",
                f"The town council of {town} has voted to build a new {f}.",
                [f"The vote took place on {day}.", f"The {f} will cost {rng.randint(2, 9)} million dollars.",
                 f"Mayor {who} said the town had waited a long time for it."])
    if kind == 1:
        c = rng.choice(CONTESTS)
        return (f"{town} students win national {c} contest",
                f"Students from {town} High School have won the national {c} contest.",
                [f"The team of {rng.choice(NUMBER_WORDS)} students beat {rng.randint(20, 90)} other schools.",
                 f"Their teacher, {who}, said the students had worked very hard.", f"The final was held on {day}."])
    if kind == 2:
        s, st = rng.choice(SHOPS), rng.choice(STREETS)
        return (f"New {s} opens on {st} in {town}",
                f"A new {s} has opened on {st} in {town}.",
                [f"The owner, {who}, grew up in the town.", f"It opened its doors on {day}.",
                 f"The first {rng.randint(2, 9) * 10} customers got a free gift."])
    if kind == 3:
        n = rng.randint(2, 12)
        return (f"Storm closes {n} roads in {town}",
                f"A strong storm has closed {n} roads in {town}.",
                [f"Many trees fell during the night of {day}.", f"No one was hurt, said police officer {who}.",
                 f"The roads should open again in {rng.choice(NUMBER_WORDS)} days."])
    if kind == 4:
        fe, m = rng.choice(FESTIVALS), rng.choice(MONTHS)
        return (f"{town} to hold first {fe} festival in {m}",
                f"{town} will hold its first {fe} festival in {m}.",
                [f"The festival will last {rng.choice(NUMBER_WORDS)} days.", f"The organizer, {who}, expects big crowds.",
                 "Tickets go on sale next week."])
    if kind == 5:
        n = rng.randint(2, 10)
        return (f"{town} bridge to close for {n} weeks",
                f"The old bridge in {town} will close for {n} weeks for repairs.",
                [f"Work starts on {day}.", f"Drivers will have to use the road through {rng.choice(TOWNS)}.",
                 f"Engineer {who} said the repairs were long overdue."])
    kg = rng.randint(200, 900)
    return (f"{who} grows {kg}-kilogram pumpkin in {town}",
            f"{who} of {town} has grown a pumpkin that weighs {kg} kilograms.",
            [f"The pumpkin was weighed on {day}.", "It is the biggest pumpkin ever grown in the area.",
             f"{who.split()[0]} plans to enter it in the county fair."])


@generator("headline_local", fields=("article", "headline", "first_sentence"))
def headline_local(rng: random.Random) -> dict:
    headline, first, rest = _local_story(rng)
    rest = [rest[0]] + rng.sample(rest[1:], rng.randint(1, 2))
    return {"article": " ".join([first] + rest), "headline": headline, "first_sentence": first}


TEAMS = ["Lions", "Bears", "Eagles", "Wolves", "Falcons", "Tigers", "Sharks", "Foxes", "Rovers", "Hawks"]
SPORTS = [("football", "goals"), ("hockey", "goals"), ("handball", "goals")]


@generator("headline_sports", fields=("article", "headline", "first_sentence"))
def headline_sports(rng: random.Random) -> dict:
    t1, t2 = rng.sample(TOWNS, 2)
    n1, n2 = rng.sample(TEAMS, 2)
    a, b = f"{t1} {n1}", f"{t2} {n2}"
    s1, s2 = rng.randint(0, 6), rng.randint(0, 6)
    sport, unit = rng.choice(SPORTS)
    day, crowd = rng.choice(DAYS), rng.randint(2, 40) * 250
    if s1 == s2:
        headline = f"{a} and {b} draw {s1}-{s2}"
        first = f"The {a} and the {b} drew {s1}-{s2}."
        scorer = f"{_person(rng)} scored for the {rng.choice([n1, n2])}." if s1 else "Neither team could score."
    else:
        (w, wn, ws), (l, ls) = ((a, n1, s1), (b, s2)) if s1 > s2 else ((b, n2, s2), (a, s1))
        headline = f"{w} beat {l} {ws}-{ls}"
        first = f"The {w} beat the {l} {ws}-{ls}."
        scorer = f"{_person(rng)} scored {ws if ws < 3 else 2} of the {wn}' {unit}." if ws > 1 else \
            f"{_person(rng)} scored the only goal for the {wn}."
    rest = [f"The {sport} match was played on {day} in {t1}.", f"A crowd of {crowd} fans came to watch.", scorer,
            f"The two teams meet again in {rng.choice(MONTHS)}."]
    rest = [rest[0]] + rng.sample(rest[1:], rng.randint(1, 2))
    return {"article": " ".join([first] + rest), "headline": headline, "first_sentence": first}
