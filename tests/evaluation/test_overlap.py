"""evaluation/overlap.py: near-copies across train/test, per case, per category, and the warning."""

from __future__ import annotations

import json
from dataclasses import dataclass

from expertkit.evaluation.overlap import (
    NEAR_TWIN_JACCARD,
    Turn,
    case_cell,
    category_lines,
    grams,
    jaccard,
    measure,
    template,
    training_turns,
)

SHOP = "Dialect: sqlite\nSchema:\nsuppliers(id, name, country)\nproducts(id, name, unit_price, supplier_id)"
ZOO = "Dialect: sqlite\nSchema:\nkeepers(id, name, shift)\nanimals(id, name, species, weight)"


@dataclass
class Case:
    id: str
    input: str
    category: str = "basic"
    system: str | None = None


TRAIN = [
    Turn("List the name of products whose country is 'France'.", SHOP),
    Turn("How many products have a unit price over 40?", SHOP),
    Turn("Count the suppliers.", SHOP),
]


def test_template_replaces_names_and_values():
    a = template("List the name of products whose country is 'France'.", SHOP)
    b = template("List the name of animals whose species is Zebra.", ZOO)
    assert a == b == "list the <n> of <n> whose <n> is <v>"
    assert template("How many products have a unit price over 40?", SHOP) == "how many <n> have a <n> <n> over <v>"
    assert template("Who lives in Lyon?") == "who lives in <v>"  # capitalised after the first word: a value


def test_jaccard_of_grams():
    assert jaccard(grams("a b c"), grams("a b c")) == 1.0
    assert jaccard(grams("a b"), grams("c d")) == 0.0
    assert 0 < jaccard(grams("the cat sat"), grams("the cat ran")) < 1


def test_a_generated_twin_is_caught_and_a_new_phrasing_is_not():
    cases = [Case("twin", "List the name of animals whose species is 'zebra'.", "basic", ZOO),
             Case("new", "Which keepers work nights?", "hard", ZOO)]
    report = measure(cases, TRAIN)
    twin, new = report.cases
    assert twin.template_count == 1 and twin.max_jaccard == 1.0 and twin.near_twin
    assert twin.nearest == TRAIN[0].text
    assert new.template_count == 0 and new.max_jaccard < NEAR_TWIN_JACCARD and not new.near_twin
    assert report.training_examples == 3
    assert report.by_category == {"basic": {"cases": 1, "near_twin_share": 1.0, "template_share": 1.0, "mean_max_jaccard": 1.0},
                                  "hard": {"cases": 1, "near_twin_share": 0.0, "template_share": 0.0, "mean_max_jaccard": new.max_jaccard}}
    summary = report.summary()
    assert summary["near_twin_share"] == 0.5 and summary["training_examples"] == 3 and summary["by_category"] == report.by_category
    assert report.warning() is None  # half is not "most"
    assert "twin" in case_cell(twin) and "1 same" in case_cell(twin) and "twin" not in case_cell(new)
    assert len(category_lines(report)) == 3 and category_lines(report)[-1].startswith("all: 50% of 2")


def test_warns_when_most_cases_have_a_near_twin():
    cases = [Case(str(i), f"Count the animals{'.' if i else '!'}", "edge", ZOO) for i in range(3)] + [Case("x", "Heaviest one?", "edge", ZOO)]
    report = measure(cases, TRAIN)
    assert report.near_twin_share == 0.75
    assert "75% of the test cases have a near twin" in report.warning()


def test_no_training_data_means_no_twins():
    report = measure([Case("a", "Count the animals.", "basic", ZOO)], [])
    assert report.cases[0].max_jaccard == 0.0 and report.cases[0].nearest == "" and not report.cases[0].near_twin
    assert report.training_examples == 0 and report.warning() is None


def test_training_turns_reads_prepared_and_raw_lines(tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [{"messages": [{"role": "system", "content": SHOP}, {"role": "user", "content": "Count the suppliers."},
                           {"role": "assistant", "content": "SELECT COUNT(*) FROM suppliers;"}]},
             {"instruction": "Show all products.", "input": SHOP, "output": "SELECT * FROM products;"}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n[1]\n", encoding="utf-8")
    assert training_turns(path) == [Turn("Count the suppliers.", SHOP), Turn("Show all products.", SHOP)]


def test_report_shows_the_overlap_per_case_and_per_category(tmp_path):
    from expertkit.evaluation.report import render_html, render_markdown
    from expertkit.evaluation.runner import CaseResult, SuiteResult

    report = measure([Case("twin", "Count the animals.", "edge", ZOO)], TRAIN)
    result = CaseResult("twin", "twin", "edge", "exact", True, "same", "x", "x", None, 1.0, 1, "stop", "Count the animals.")
    suite = SuiteResult(tmp_path / "manifest.json", "weights/final", tmp_path / "cases.json", None, [result], overlap=report)
    md = render_markdown(suite, None)
    assert "| test/train overlap | edge: 100% of 1 with a near twin" in md
    assert "train overlap |" in md and "1.00 ·1 same twin (nearest: Count the suppliers.)" in md
    assert "nearest: Count the suppliers." in render_html(suite, None)
