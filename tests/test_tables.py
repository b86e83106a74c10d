import pytest

from onen.analysis.tables import Table


def test_table_renders_escaped_html_and_aligned_text() -> None:
    table = Table(["name", "alpha"], [["a<b", "1.25"], ["long name", "0.5 ± 0.1"]], caption="cap")
    markup = table._repr_html_()
    assert "<th>name</th>" in markup and "a&lt;b" in markup and "<caption>cap</caption>" in markup
    assert markup.count("<tr>") == 3 and 'style="text-align:right">1.25' in markup
    assert 'style="text-align:left">long name' in markup
    lines = str(table).splitlines()
    assert lines[0] == "cap" and len({len(line) for line in lines[1:]}) == 1


def test_table_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError):
        Table(["a", "b"], [["1"]])


def test_notes_go_below_the_rows_and_the_text_form_is_stable() -> None:
    table = Table(["a", "b"], [["x", "1.5"]], caption="cap", notes=["first <note>", "second"])
    assert str(table).splitlines()[-2:] == ["first <note>", "second"] and repr(table) == str(table)
    page = table._repr_html_()
    assert page.index("</tbody>") < page.index("<tfoot>") and "first &lt;note&gt;<br>second" in page
    assert 'colspan="2"' in page and "<tfoot>" not in Table(["a"], [["1"]])._repr_html_()
