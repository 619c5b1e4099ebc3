"""The docs' figures have one source each, and the tests they name exist.

- tests/RELIABILITY.md: the faults total ("N of N rows above") is the table's
  row count; the bad-input figures are the length of test_bad_input.CASES,
  and the README says the same number;
- every `test_x.py::test_name` the RELIABILITY tables cite is a test function
  in that file (a `…` abbreviates the rest of a name);
- figures in the README and docs/ that cite bench/RESULTS.md (N×) appear in RESULTS.md;
- the README stays short (what scope is, the two commands, one session, where
  to read on) and every doc it links to exists.
"""
import re
from pathlib import Path

from . import test_bad_input

ROOT = Path(__file__).resolve().parents[2]
RELIABILITY = (ROOT / "tests" / "RELIABILITY.md").read_text()
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
RESULTS = (ROOT / "bench" / "RESULTS.md").read_text()


def table_rows(text: str, heading: str) -> list[str]:
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return rows[2:]            # past the header and its rule


def test_the_faults_total_is_the_tables_row_count():
    rows = table_rows(RELIABILITY, "Faults")
    total = re.search(r"Tried and survived: \*\*(\d+) of (\d+)\*\* rows above", RELIABILITY)
    assert total, "the faults total line is missing"
    assert int(total.group(1)) == int(total.group(2)) == len(rows), (total.group(0), len(rows))


def test_the_bad_input_figures_are_the_cases_count():
    n = len(test_bad_input.CASES)
    stated = re.findall(r"\*\*(\d+)\*\* malformed", RELIABILITY) + list(
        re.findall(r"\*\*(\d+) of (\d+)\*\* answered", RELIABILITY)[0])
    assert [int(x) for x in stated] == [n, n, n], (stated, n)
    readme = re.findall(r"(\d+) bad-input cases", DOCS)
    assert readme and all(int(x) == n for x in readme), (readme, n)


def test_every_test_the_reliability_tables_cite_exists():
    cited = re.findall(r"`((?:unit/|integration/|soak/)?test_\w+\.py)::(\w+)(…)?", RELIABILITY)
    assert len(cited) > 20
    missing = []
    for path, name, abbreviated in cited:
        folder = "integration" if "/" not in path else ""
        source = (ROOT / "tests" / folder / path).read_text()
        names = re.findall(r"^def (test_\w+)", source, re.M)
        if not any(n == name or (abbreviated and n.startswith(name)) for n in names):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_readme_figures_from_the_bench_are_the_bench_figures():
    paragraphs = [p for p in DOCS.split("\n\n") if "bench/RESULTS.md" in p]
    figures = [f for p in paragraphs for f in re.findall(r"\d+(?:\.\d+)?×", p)]
    assert figures, "no figure cites bench/RESULTS.md"
    assert [f for f in figures if f not in RESULTS] == []


def test_the_readme_is_short_and_its_links_lead_somewhere():
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert "docs/architecture.md" in links
    assert [link for link in links if not (ROOT / link).exists()] == []
