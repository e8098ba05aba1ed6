"""Closed-book QA over small hand-written fact tables: capitals, continents, currencies, antonyms, plurals.

Every table is a literal below (plain ASCII names, e.g. Bogota, Reykjavik), so the data is built offline. Answers are
whole sentences in one fixed form ("The capital of France is Paris."), which a tiny model learns more easily than a
bare word and which the quickstart README promises. The generators are exhaustive: each returns every fact once.
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

# name, capital, continent, currency. Only countries whose capital, continent and currency are each unambiguous.
COUNTRIES = [
    ("France", "Paris", "Europe", "euro"), ("Germany", "Berlin", "Europe", "euro"),
    ("Italy", "Rome", "Europe", "euro"), ("Spain", "Madrid", "Europe", "euro"),
    ("Portugal", "Lisbon", "Europe", "euro"), ("United Kingdom", "London", "Europe", "pound sterling"),
    ("Ireland", "Dublin", "Europe", "euro"), ("Netherlands", "Amsterdam", "Europe", "euro"),
    ("Belgium", "Brussels", "Europe", "euro"), ("Austria", "Vienna", "Europe", "euro"),
    ("Switzerland", "Bern", "Europe", "Swiss franc"), ("Sweden", "Stockholm", "Europe", "Swedish krona"),
    ("Norway", "Oslo", "Europe", "Norwegian krone"), ("Finland", "Helsinki", "Europe", "euro"),
    ("Denmark", "Copenhagen", "Europe", "Danish krone"), ("Iceland", "Reykjavik", "Europe", "Icelandic krona"),
    ("Poland", "Warsaw", "Europe", "zloty"), ("Czech Republic", "Prague", "Europe", "Czech koruna"),
    ("Hungary", "Budapest", "Europe", "forint"), ("Greece", "Athens", "Europe", "euro"),
    ("Romania", "Bucharest", "Europe", "Romanian leu"), ("Croatia", "Zagreb", "Europe", "euro"),
    ("Serbia", "Belgrade", "Europe", "Serbian dinar"), ("Ukraine", "Kyiv", "Europe", "hryvnia"),
    ("Estonia", "Tallinn", "Europe", "euro"), ("Latvia", "Riga", "Europe", "euro"),
    ("Lithuania", "Vilnius", "Europe", "euro"),
    ("Egypt", "Cairo", "Africa", "Egyptian pound"), ("Kenya", "Nairobi", "Africa", "Kenyan shilling"),
    ("Nigeria", "Abuja", "Africa", "naira"), ("Morocco", "Rabat", "Africa", "Moroccan dirham"),
    ("Ghana", "Accra", "Africa", "cedi"), ("Ethiopia", "Addis Ababa", "Africa", "birr"),
    ("Uganda", "Kampala", "Africa", "Ugandan shilling"), ("Senegal", "Dakar", "Africa", "CFA franc"),
    ("Algeria", "Algiers", "Africa", "Algerian dinar"), ("Tunisia", "Tunis", "Africa", "Tunisian dinar"),
    ("Zambia", "Lusaka", "Africa", "kwacha"), ("Angola", "Luanda", "Africa", "kwanza"),
    ("Rwanda", "Kigali", "Africa", "Rwandan franc"), ("Mali", "Bamako", "Africa", "CFA franc"),
    ("Namibia", "Windhoek", "Africa", "Namibian dollar"), ("Botswana", "Gaborone", "Africa", "pula"),
    ("Madagascar", "Antananarivo", "Africa", "ariary"),
    ("Japan", "Tokyo", "Asia", "yen"), ("China", "Beijing", "Asia", "renminbi"),
    ("India", "New Delhi", "Asia", "Indian rupee"), ("South Korea", "Seoul", "Asia", "won"),
    ("Thailand", "Bangkok", "Asia", "baht"), ("Vietnam", "Hanoi", "Asia", "dong"),
    ("Malaysia", "Kuala Lumpur", "Asia", "ringgit"), ("Pakistan", "Islamabad", "Asia", "Pakistani rupee"),
    ("Bangladesh", "Dhaka", "Asia", "taka"), ("Nepal", "Kathmandu", "Asia", "Nepalese rupee"),
    ("Philippines", "Manila", "Asia", "Philippine peso"), ("Mongolia", "Ulaanbaatar", "Asia", "tugrik"),
    ("Laos", "Vientiane", "Asia", "kip"), ("Cambodia", "Phnom Penh", "Asia", "riel"),
    ("Afghanistan", "Kabul", "Asia", "afghani"), ("Iran", "Tehran", "Asia", "Iranian rial"),
    ("Iraq", "Baghdad", "Asia", "Iraqi dinar"), ("Saudi Arabia", "Riyadh", "Asia", "Saudi riyal"),
    ("Jordan", "Amman", "Asia", "Jordanian dinar"), ("Qatar", "Doha", "Asia", "Qatari riyal"),
    ("Singapore", "Singapore", "Asia", "Singapore dollar"),
    ("Canada", "Ottawa", "North America", "Canadian dollar"),
    ("United States", "Washington, D.C.", "North America", "US dollar"),
    ("Mexico", "Mexico City", "North America", "Mexican peso"), ("Cuba", "Havana", "North America", "Cuban peso"),
    ("Jamaica", "Kingston", "North America", "Jamaican dollar"),
    ("Guatemala", "Guatemala City", "North America", "quetzal"),
    ("Costa Rica", "San Jose", "North America", "colon"), ("Honduras", "Tegucigalpa", "North America", "lempira"),
    ("Nicaragua", "Managua", "North America", "cordoba"),
    ("Brazil", "Brasilia", "South America", "real"), ("Argentina", "Buenos Aires", "South America", "Argentine peso"),
    ("Chile", "Santiago", "South America", "Chilean peso"), ("Peru", "Lima", "South America", "sol"),
    ("Colombia", "Bogota", "South America", "Colombian peso"), ("Venezuela", "Caracas", "South America", "bolivar"),
    ("Ecuador", "Quito", "South America", "US dollar"), ("Uruguay", "Montevideo", "South America", "Uruguayan peso"),
    ("Paraguay", "Asuncion", "South America", "guarani"),
    ("Australia", "Canberra", "Oceania", "Australian dollar"), ("New Zealand", "Wellington", "Oceania", "New Zealand dollar"),
    ("Fiji", "Suva", "Oceania", "Fijian dollar"), ("Papua New Guinea", "Port Moresby", "Oceania", "kina"),
    ("Samoa", "Apia", "Oceania", "tala"),
]
NAMES_WITH_THE = {"United Kingdom", "Netherlands", "United States", "Philippines", "Czech Republic"}

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
    "wife": "wives", "thief": "thieves", "shelf": "shelves", "calf": "calves", "cactus": "cacti",
    "louse": "lice", "family": "families", "country": "countries", "cherry": "cherries", "fly": "flies",
    "pony": "ponies", "berry": "berries", "bench": "benches", "match": "matches", "wish": "wishes",
    "kiss": "kisses", "dress": "dresses", "tax": "taxes", "echo": "echoes", "monkey": "monkeys",
    "donkey": "donkeys", "valley": "valleys", "piano": "pianos", "photo": "photos", "roof": "roofs",
    "chief": "chiefs", "salmon": "salmon", "moose": "moose", "door": "doors", "window": "windows",
    "lamp": "lamps", "garden": "gardens", "song": "songs", "week": "weeks",
}


def the_name(country: str) -> str:
    """'Netherlands' -> 'the Netherlands'; 'France' -> 'France'."""
    return f"the {country}" if country in NAMES_WITH_THE else country


def sentence(text: str) -> str:
    """Capitalise the first letter and end with one full stop ("Washington, D.C." keeps its own)."""
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


@generator("country_capital", fields=("country", "the_country", "capital", "answer", "inverse_answer"),
           exhaustive=True)
def country_capital(rng: random.Random) -> list[dict]:
    return [{"country": c, "the_country": the_name(c), "capital": city,
             "answer": sentence(f"the capital of {the_name(c)} is {city}"),
             "inverse_answer": sentence(f"{city} is the capital of {the_name(c)}")}
            for c, city, _, _ in COUNTRIES]


@generator("country_continent", fields=("country", "the_country", "capital", "continent", "answer"), exhaustive=True)
def country_continent(rng: random.Random) -> list[dict]:
    return [{"country": c, "the_country": the_name(c), "capital": city, "continent": cont,
             "answer": sentence(f"{the_name(c)} is in {cont}")}
            for c, city, cont, _ in COUNTRIES]


@generator("country_currency", fields=("country", "the_country", "currency", "answer"), exhaustive=True)
def country_currency(rng: random.Random) -> list[dict]:
    return [{"country": c, "the_country": the_name(c), "currency": cur,
             "answer": sentence(f"the currency of {the_name(c)} is the {cur}")}
            for c, _, _, cur in COUNTRIES]


@generator("antonym", fields=("word", "opposite", "answer"), exhaustive=True)
def antonym(rng: random.Random) -> list[dict]:
    pairs = ANTONYMS + [(b, a) for a, b in ANTONYMS]
    return [{"word": w, "opposite": o, "answer": f"The opposite of {w} is {o}."} for w, o in pairs]


@generator("plural", fields=("singular", "plural", "answer", "inverse_answer"), exhaustive=True)
def plural(rng: random.Random) -> list[dict]:
    return [{"singular": s, "plural": p, "answer": f"The plural of {s} is {p}.",
             "inverse_answer": f"The singular of {p} is {s}."} for s, p in PLURALS.items()]
