#!/usr/bin/env python3
"""Writes the example fleet's datasets from the hand-written phrases below (deterministic).

  intents.csv  support tickets of a small ferry company, labelled by intent (the "intent" specialist)
  router.csv   support tickets ("support") and story requests for the harbor storyteller ("story")

Run from this directory: python3 make_data.py
"""
import csv
import random

rng = random.Random(7)

INTENTS = {
    "billing": [
        "i was charged twice for my {ticket}",
        "why is there an extra fee on my {ticket} receipt",
        "please refund the {ticket} i paid for {day}",
        "my card was billed but the {ticket} never arrived",
        "can i get an invoice for the {ticket} from {day}",
        "the price of my {ticket} looks wrong",
        "how do i get my money back for a cancelled {ticket}",
        "i need a receipt for my {ticket} for work expenses",
    ],
    "schedule": [
        "when does the first {boat} leave on {day}",
        "what time is the last {boat} back from {place}",
        "is the {boat} to {place} running {day}",
        "how long does the crossing to {place} take",
        "does the {boat} stop at {place} on {day}",
        "has the {day} timetable for the {boat} changed",
        "is the {boat} to {place} delayed by the weather",
        "how often does the {boat} go to {place}",
    ],
    "lost_item": [
        "i left my {item} on the {boat} {day}",
        "has anyone found a {item} on the {boat} to {place}",
        "my child lost a {item} during the crossing to {place}",
        "where is the lost and found for the {boat}",
        "i think i dropped my {item} at the {place} pier",
        "did the crew find a {item} on {day}",
        "how can i get back the {item} i forgot on board",
    ],
    "booking": [
        "i want to book a {ticket} to {place} for {day}",
        "can i change my {ticket} from {day} to another day",
        "can i bring my {item} on the {boat} to {place}",
        "how do i reserve seats for four people to {place}",
        "i need to cancel my {ticket} for {day}",
        "is there room on the {boat} to {place} {day}",
        "can i buy a {ticket} on board or only online",
    ],
    "complaint": [
        "the crew on the {boat} was rude to us {day}",
        "the {boat} to {place} was dirty and crowded",
        "we waited an hour at the {place} pier and nobody told us why",
        "the seats on the {boat} are broken again",
        "your staff ignored my question about the {ticket}",
        "the announcement about the {boat} to {place} was wrong",
        "i am unhappy with how my {ticket} problem was handled",
    ],
}

STORY = [
    "tell me a story about the {color} boat",
    "tell me about the harbor at dawn",
    "what happened to the {color} boat in the storm",
    "write a short tale about a captain and the {color} boat",
    "once upon a time in the harbor there was a {color} boat",
    "tell me about mara and the small boats",
    "a story about the great grey ship please",
    "what did the captains write in the harbor book",
    "describe the boats rocking at their moorings",
    "tell me a bedtime story about the harbor master",
    "how did the small boats learn their routes",
    "a tale of the {color} boat and the islands",
]

FILL = {
    "ticket": ["ticket", "return ticket", "season pass", "day pass", "family ticket", "monthly pass"],
    "day": ["today", "tomorrow", "on monday", "on friday", "this weekend", "last sunday", "yesterday"],
    "boat": ["ferry", "morning ferry", "evening boat", "water taxi", "island boat", "night ferry"],
    "place": ["north island", "the old town", "fisher bay", "the lighthouse", "east harbor", "seal rock"],
    "item": ["bag", "phone", "umbrella", "wallet", "bicycle", "jacket", "backpack", "dog"],
    "color": ["red", "green", "blue", "yellow"],
}


def fill(template):
    out = template
    for key, values in FILL.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(values), 1)
    return out


def variants(templates, n):
    seen, rows = set(), []
    while len(rows) < n:
        text = fill(rng.choice(templates))
        if rng.random() < 0.3:
            text = rng.choice(["hi ", "hello, ", "excuse me, ", "quick question: "]) + text
        if rng.random() < 0.2:
            text += rng.choice(["?", " please", " thanks", "!"])
        if text not in seen:
            seen.add(text)
            rows.append(text)
    return rows


def write(path, rows):
    rng.shuffle(rows)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


intents = [(t, label) for label, ts in INTENTS.items() for t in variants(ts, 60)]
write("intents.csv", intents)
support = [t for t, _ in intents]
rng.shuffle(support)
router = [(t, "support") for t in support[:150]] + [(t, "story") for t in variants(STORY, 150)]
write("router.csv", router)
