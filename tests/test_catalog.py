"""The catalog over the wire: round-trip, order of get(ids), filters, and no operator injection."""

import pytest

from core.catalog import Catalog, Product
from core.errors import QueryError


def product(i: int, **changes) -> Product:
    fields = dict(
        id=i,
        name=f"Item {i}",
        gender="Men",
        master_category="Apparel",
        sub_category="Topwear",
        article_type="Tshirts",
        base_colour="Red",
        colour_group="Red",
        image=f"{i}.jpg",
    )
    fields.update(changes)
    return Product(**fields)


def test_round_trip_over_the_wire(settings):
    catalog = Catalog.open(settings)
    catalog.upsert([product(1), product(2, gender="Women")])
    again = Catalog.open(settings)  # a second client sees what the first wrote
    assert again.get([2, 1]) == [product(2, gender="Women"), product(1)]
    assert again.count() == 2 and again.count(gender="Women") == 1


def test_get_keeps_order_and_marks_unknown_ids(settings):
    catalog = Catalog.open(settings)
    catalog.upsert([product(i) for i in range(5)])
    assert [p.id if p else None for p in catalog.get([3, 99, 0])] == [3, None, 0]


def test_state_changes_when_a_product_changes(settings):
    catalog = Catalog.open(settings)
    catalog.upsert([product(1)])
    before = catalog.state()
    catalog.upsert([product(1, name="Renamed")])
    assert catalog.state() != before


@pytest.mark.parametrize("hostile", ['{"$ne": null}', "$where", ".*", "Men' || '1'=='1"])
def test_user_strings_never_become_operators(settings, hostile):
    catalog = Catalog.open(settings)
    catalog.upsert([product(1), product(2)])
    assert catalog.count(gender=hostile) == 0
    assert catalog.browse(text=hostile) == []
    assert catalog.count(gender={"$ne": None}) == 0  # a dict arrives as a literal string, not a query


def test_unknown_filter_fields_are_refused(settings):
    catalog = Catalog.open(settings)
    with pytest.raises(QueryError, match="Unknown filter"):
        catalog.count(**{"$where": "1"})


def test_counts_by_category(settings):
    catalog = Catalog.open(settings)
    catalog.upsert([product(1), product(2, sub_category="Shoes"), product(3, sub_category="Shoes")])
    assert catalog.counts_by("sub_category") == {"Shoes": 2, "Topwear": 1}
