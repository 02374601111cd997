"""Deep-dive tables: one component of escaped HTML, whose cells are always literal text."""

from html.parser import HTMLParser

from dash import dcc, html

from dashboards.deep_dive import NOTHING, table

HOSTILE = (
    '${jndi:ldap://x} | **b** <b>bold</b> <img src=x onerror="alert(1)"> '
    "[l](http://e.example) &amp;\n\nnext"
)


class Cells(HTMLParser):
    """The tags and each cell's text, as a browser would parse the table's HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.row_ids: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
            self.row_ids.append(dict(attrs).get("id"))
        elif tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data: str) -> None:
        self.rows[-1][-1] += data


def parsed(made: object) -> Cells:
    assert isinstance(made, dcc.Markdown)
    assert "\n" not in made.children  # one HTML block: Markdown never sees a cell's text
    cells = Cells()
    cells.feed(made.children)
    return cells


def test_cells_are_literal_text_and_counts_are_formatted() -> None:
    cells = parsed(table(["Text", "Count"], [[HOSTILE, 1234], ["plain", NOTHING]], empty="-"))
    assert cells.rows == [["Text", "Count"], [" ".join(HOSTILE.split()), "1,234"], ["plain", "—"]]
    assert set(cells.tags) == {"table", "thead", "tbody", "tr", "th", "td"}


def test_counts_are_marked_to_be_right_aligned() -> None:
    made = table(["Name", "n"], [["a", 7]], empty="-")
    assert isinstance(made, dcc.Markdown)
    assert '<td>a</td><td class="num">7</td>' in made.children


def test_no_rows_says_why_and_long_tables_say_how_many_are_left_out() -> None:
    empty = table(["A"], [], empty="Nothing in this range.")
    assert isinstance(empty, html.P)
    assert empty.children == "Nothing in this range."
    long = table(["A"], [[n] for n in range(105)], empty="-", limit=100)
    assert isinstance(long, html.Div)
    shown, more = long.children
    assert len(parsed(shown).rows) == 1 + 100
    assert more.children == "… and 5 more rows, not shown"
    assert len(parsed(table(["A"], [[n] for n in range(105)], empty="-", limit=None)).rows) == 106


def test_rows_can_carry_element_ids_escaped_like_any_text() -> None:
    cells = parsed(table(["A"], [["x"], ["y"]], empty="-", row_ids=["row-x", 'row-"y"']))
    assert cells.row_ids == [None, "row-x", 'row-"y"']
    assert cells.rows == [["A"], ["x"], ["y"]]


def test_a_cut_table_keeps_the_ids_of_the_rows_it_shows() -> None:
    long = table(["A"], [["x"], ["y"], ["z"]], empty="-", limit=2, row_ids=["a", "b", "c"])
    assert isinstance(long, html.Div)
    assert parsed(long.children[0]).row_ids == [None, "a", "b"]
