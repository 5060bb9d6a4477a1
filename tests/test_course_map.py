"""docs/steps.md, the course map: everything it names exists, where it says."""

import re

from scripts.course_map import COURSE_MAP, ROOT, definition_line, references


def test_every_reference_names_something_that_exists_at_its_line():
    wrong = []
    for reference in references(COURSE_MAP.read_text()):
        line = definition_line(ROOT / reference["path"], reference["name"])
        if line != int(reference["line"]):
            wrong.append(f"{reference.group(0)}: defined at {line}")
    assert wrong == [], "run .venv/bin/python -m scripts.course_map, or fix the names:\n" + (
        "\n".join(wrong)
    )


def test_every_step_of_the_chapter_and_its_extension_is_mapped():
    headings = re.findall(r"^## (.+)$", COURSE_MAP.read_text(), re.MULTILINE)
    steps = [heading for heading in headings if heading.startswith("Step ")]
    assert [int(step.split()[1].rstrip(":")) for step in steps] == list(range(16))
    assert any("extension" in heading for heading in headings)


def test_the_checks_would_notice_a_name_that_is_gone():
    assert definition_line(ROOT / "feed" / "service.py", "Feed.publish_post") is not None
    assert definition_line(ROOT / "feed" / "service.py", "Feed.publish_nothing") is None
    assert definition_line(ROOT / "feed" / "no_such_file.py", "anything") is None
