"""The prompts of the pipeline. The instruction-generation header and the classification question and answer
format are the paper's (facts of the method); the introductions, the 31 classification examples and the instance
exemplars are written for instill. Every text here is a default that a config can replace; templates fill
`{instruction}` (and the Alpaca one `{tasks}`, `{num_tasks}`) by plain replacement, so braces elsewhere are safe.
"""

from __future__ import annotations

from typing import Sequence

INSTRUCTION_HEADER = "Come up with a series of tasks:\n"

CLASSIFICATION_QUESTION = "Can the following task be regarded as a classification task with finite output labels?"

# (task, is it classification?) -- 31 examples, about a third "Yes", as the paper's prompt has 31
CLASSIFICATION_EXAMPLES: tuple[tuple[str, bool], ...] = (
    ("Tell me whether this movie review is positive or negative.", True),
    ("Suggest a name for a bakery that sells only sourdough bread.", False),
    ("Decide if the two sentences mean the same thing. Answer yes or no.", True),
    ("Explain how a bicycle gear system works to a ten-year-old.", False),
    ("Which of the following animals is a mammal: shark, dolphin, or trout?", True),
    ("Write a short thank-you note to a neighbour who watered my plants.", False),
    ("Label the language of the given sentence: English, French, German or Spanish.", True),
    ("Give three tips for studying before an exam.", False),
    ("Is the given email spam? Reply with Spam or Not spam.", True),
    ("Convert the temperature from Celsius to Fahrenheit.", False),
    ("Read the claim and say whether it is true, false, or cannot be determined from the passage.", True),
    ("Rewrite the paragraph in a more formal tone.", False),
    ("Find the grammatical errors in the sentence and correct them.", False),
    ("Classify the news headline into one of: sports, politics, business, science.", True),
    ("Plan a three-day trip to Lisbon on a small budget.", False),
    ("Given a word, tell whether it is a noun, verb, adjective or adverb.", True),
    ("Summarize the story in two sentences.", False),
    ("Does the following customer message express a complaint? Answer Yes or No.", True),
    ("List five questions to ask at the end of a job interview.", False),
    ("Identify whether the number given is prime.", True),
    ("Translate the sentence into Italian.", False),
    ("Rate the difficulty of the math problem as easy, medium or hard.", True),
    ("Describe the smell of rain after a hot day.", False),
    ("Sort the words into alphabetical order.", False),
    ("Tell me if the statement is a fact or an opinion.", True),
    ("Generate a catchy slogan for a recycling campaign.", False),
    ("Which emotion does the tweet express most: joy, anger, sadness or fear?", True),
    ("Explain the difference between weather and climate.", False),
    ("Answer the riddle: what has keys but cannot open locks?", False),
    ("Detect whether the code snippet contains a syntax error. Output yes or no.", True),
    ("Come up with a recipe that uses leftover rice.", False),
)

INPUT_FIRST_INTRO = (
    "Write examples for each task below. Give several examples when the task allows it. When a task needs no "
    "extra input, skip the Input line and write only the Output.\n\n"
)

INPUT_FIRST_EXEMPLARS = """Task: Find the largest number in the list.
Example 1
Input: 4, 19, 7, 12
Output: 19
Example 2
Input: -3, -8, -1
Output: -1

Task: Suggest a title for a blog post about the topic.
Example 1
Input: Growing tomatoes on a balcony
Output: Small Space, Big Harvest: Balcony Tomatoes for Beginners
Example 2
Input: Saving money on groceries
Output: Ten Habits That Cut My Grocery Bill in Half

Task: Name a fruit that is rich in vitamin C.
Output: Oranges are rich in vitamin C; one medium orange covers most of an adult's daily need.

Task: Rewrite the sentence in the passive voice.
Example 1
Input: The committee approved the new budget.
Output: The new budget was approved by the committee.
Example 2
Input: A storm damaged the old bridge.
Output: The old bridge was damaged by a storm.

"""

OUTPUT_FIRST_INTRO = (
    "Each task below is a classification task. Write its possible class labels, and for each label an input "
    "that belongs to it. When a task needs no input, write only the class label.\n\n"
)

OUTPUT_FIRST_EXEMPLARS = """Task: Decide whether the sentence is written in the past, present or future tense.
Class label: Past
Input: We walked along the river after dinner.
Class label: Present
Input: The kettle is boiling.
Class label: Future
Input: They will open the new library next spring.

Task: Is the review positive or negative?
Class label: Positive
Input: The staff were friendly and the soup was perfect.
Class label: Negative
Input: We waited an hour and the pizza arrived cold.

Task: Tell whether the number is even or odd.
Class label: Even
Input: 348
Class label: Odd
Input: 1021

"""

ALPACA_PROMPT = """You are asked to come up with a set of {num_tasks} diverse task instructions, each with an input and the correct output.

Requirements:
1. Do not repeat verbs across instructions, and vary the wording.
2. Vary the kinds of task: open questions, classification, editing, rewriting, brainstorming, reasoning, coding and more.
3. A language model must be able to do the task in text alone: nothing to see, hear or draw, no actions in the world.
4. Write in English, in one or two sentences per instruction, as commands or as questions.
5. Give an input only when the task needs one (a passage, a list, a sentence, a question); otherwise write "<noinput>". An input should be real content of at most 100 words, not a placeholder.
6. The output must be a correct, reasonably short answer to the instruction and input.

List of {num_tasks} tasks:
{tasks}"""


def instruction_prompt(instructions: Sequence[str], header: str = INSTRUCTION_HEADER) -> str:
    """The instruction-generation prompt: the header, the instructions numbered from 1, and the next number.

    >>> print(instruction_prompt(["Add two numbers.", "Name a colour."]))
    Come up with a series of tasks:
    1. Add two numbers.
    2. Name a colour.
    3.
    """
    body = "".join(f"{i}. {' '.join(t.split())}\n" for i, t in enumerate(instructions, 1))
    return f"{header}{body}{len(instructions) + 1}."


def classification_prompt(instruction: str, question: str = CLASSIFICATION_QUESTION,
                          examples: Sequence[tuple[str, bool]] = CLASSIFICATION_EXAMPLES) -> str:
    """The few-shot classification check, ending with `Is it classification?` for the model to answer."""
    shots = "".join(f"Task: {t}\nIs it classification? {'Yes' if c else 'No'}\n\n" for t, c in examples)
    return f"{question}\n\n{shots}Task: {instruction}\nIs it classification?"


def instance_prompt(instruction: str, intro: str, exemplars: str) -> str:
    """An instance-generation prompt (input-first or output-first): intro, exemplars, then the task."""
    return f"{intro}{exemplars}Task: {instruction}\n"


def render(template: str, **fields: str) -> str:
    """Fill `{name}` fields by plain replacement (a config's prompt may contain other braces).

    >>> render("Task: {instruction} {not_a_field}", instruction="Add.")
    'Task: Add. {not_a_field}'
    """
    for k, v in fields.items():
        template = template.replace("{" + k + "}", v)
    return template
