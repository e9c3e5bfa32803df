#!/usr/bin/env python3
"""Write datasets/train.jsonl of the expert-json routing fixture: templated text -> JSON extraction prompts.

Was the bench's stand-in for a JSON expert before examples/expert-json existed; the router tests
keep it (small, fixed): their packages' routing/ members embed these prompts. Deterministic: `python make_train.py` rewrites the same file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOMAINS = {
    "contact": ({"name": "string", "email": "string", "phone": "string", "city": "string"},
                ["{name} lives in {city}; reach her at {email} or {phone}.",
                 "You can contact {name} ({email}, tel. {phone}) at the {city} office."]),
    "product": ({"title": "string", "price": "number", "in_stock": "boolean", "color": "string"},
                ["The {color} {title} costs ${price} and is {stock}.",
                 "New listing: {title}, colour {color}, priced at {price} dollars, currently {stock}."]),
    "flight": ({"airline": "string", "flight_number": "string", "origin": "string", "destination": "string"},
               ["{airline} flight {flight} leaves {origin} for {destination} at noon.",
                "Booked: {origin} to {destination} on {airline} ({flight})."]),
    "job": ({"title": "string", "company": "string", "salary": "number", "remote": "boolean"},
            ["{company} is hiring a {title}, paying {price}k a year, {remote}.",
             "Opening at {company}: {title}. Salary {price}000. Work is {remote}."]),
}
VALUES = {
    "name": ["Maria Lopez", "Ken Ito", "Ada Obi", "Tom Berg"], "email": ["m@ex.org", "ken@ito.jp", "ada@obi.ng", "tb@berg.se"],
    "phone": ["555-0101", "555-0199", "555-0142"], "city": ["Lisbon", "Osaka", "Lagos", "Malmo"],
    "title": ["desk lamp", "backpack", "kettle", "data engineer", "nurse", "accountant"], "price": ["19", "45", "80", "120"],
    "stock": ["in stock", "sold out"], "color": ["red", "black", "teal"], "airline": ["Aerolinea", "SkyJet", "Nordair"],
    "flight": ["AL204", "SJ88", "NA1200"], "origin": ["Madrid", "Oslo", "Cairo"], "destination": ["Lima", "Perth", "Quebec"],
    "company": ["Acme", "Globex", "Initech"], "remote": ["fully remote", "on site"],
}
ASKS = ["Extract the fields from this text.", "Turn this into JSON.", "Fill the schema from the text below.",
        "Return the object described by the schema.", ""]


def example(rng: random.Random) -> dict:
    domain = rng.choice(list(DOMAINS))
    fields, templates = DOMAINS[domain]
    text = rng.choice(templates).format(**{k: rng.choice(v) for k, v in VALUES.items()})
    schema = {"type": "object", "properties": {k: {"type": v} for k, v in fields.items()}, "required": list(fields)}
    ask = rng.choice(ASKS)
    user = f"{ask}\n\n{text}".strip()
    system = "Answer with one JSON object that matches this JSON Schema:\n" + json.dumps(schema)
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": "{}"}]}


def main() -> None:
    rng = random.Random(11)
    rows = [example(rng) for _ in range(120)]
    out = HERE / "datasets" / "train.jsonl"
    out.parent.mkdir(exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
