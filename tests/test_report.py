"""Every results table in the docs is what benchmarks/report.py prints from the committed results JSON."""

import importlib.util
import sys
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def load_report():
    spec = importlib.util.spec_from_file_location("report", REPORT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["report"] = module                              # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_docs_tables_match_their_results_json():
    report = load_report()
    assert report.update(check=True) == []                      # names the stale blocks when it fails


def test_a_hand_edited_table_is_found(tmp_path, monkeypatch):
    report = load_report()
    doc = tmp_path / "docs" / "page.md"
    doc.parent.mkdir()
    first = next(entry for entry in report.REPORTS if entry.name == "siamese-headline")
    table = report.render(first)
    doc.write_text(f"intro\n<!-- report:{first.name} -->\n{table.replace('.', ',', 1)}\n<!-- /report:{first.name} -->\n")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    monkeypatch.setattr(report, "REPORTS", (report.Report(first.name, "docs/page.md", first.module, first.function,
                                                          first.results, first.arguments),))
    assert report.update(check=True) == [f"docs/page.md: {first.name}"]
    report.update(check=False)
    assert report.update(check=True) == [] and table in doc.read_text()
