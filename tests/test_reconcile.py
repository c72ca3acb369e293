"""Tying a response's items back to the rows of the batch, whatever the order and shape."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sheetsync.core.contacts import SEND, RowPlan
from sheetsync.core.reconcile import describe_item, reconcile

AT = dt.datetime(2026, 1, 5, 12, 0)


def rows(n: int) -> list[RowPlan]:
    return [RowPlan(i + 2, f"user{i}@example.com" if i % 3 != 2 else None, f"1555000{i:04d}" if i % 3 != 0 else None, SEND) for i in range(n)]


def echo(row: RowPlan, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if row.email:
        item["email"] = row.email.upper()  # the server may change case
    if row.phone:
        item["phone"] = "+" + row.phone  # ... or add a plus
    item.update(extra)
    return item


def test_shuffled_success_and_errors_match_by_email_and_phone() -> None:
    batch = rows(9)
    success = [echo(r, action="created" if r.number % 2 else "updated") for r in batch[:6]]
    errors = [echo(r, error=f"bad row {r.number}") for r in batch[6:]]
    mixed = success + errors
    random.Random(3).shuffle(mixed)
    done = reconcile(batch, [i for i in mixed if "action" in i], [i for i in mixed if "error" in i], server_message="ok", action="upsert", at=AT)
    by_number = {r.number: r for r in done.results}
    for r in batch[:6]:
        assert by_number[r.number].status == ("created" if r.number % 2 else "updated")
    for r in batch[6:]:
        assert by_number[r.number].status == "error"
        assert by_number[r.number].message == f"bad row {r.number}"
    assert [r.number for r in done.results] == [r.number for r in batch]  # one result per row, in row order
    assert done.unmatched == []


def test_rows_in_neither_list_are_not_processed_with_the_servers_message() -> None:
    batch = rows(3)
    done = reconcile(batch, [echo(batch[0], action="updated")], [], server_message="Processed 1 contacts", action="updateOnly", at=AT)
    statuses = [r.status for r in done.results]
    assert statuses == ["updated", "not processed", "not processed"]
    assert "Processed 1 contacts" in done.results[1].message
    assert "updateOnly" in done.results[1].message


def test_unknown_error_shapes_are_shown_not_crashed_on() -> None:
    batch = rows(4)
    errors = [
        {"contact": {"email": batch[0].email}, "error": {"code": "E12", "message": "phone blocked"}},
        {"phone": batch[1].phone, "reason": "duplicate"},
        {"email": batch[3].email, "errors": ["too long", {"detail": "bad tier"}]},
        "a bare string error",
        {"weird": [1, 2, 3]},
    ]
    done = reconcile(batch, [], errors, server_message=None, action="upsert", at=AT)
    msgs = {r.number: (r.status, r.message) for r in done.results}
    assert msgs[2] == ("error", "phone blocked")
    assert msgs[3] == ("error", "duplicate")
    assert msgs[5] == ("error", "too long; bad tier")
    assert msgs[4][0] == "not processed"
    # Items that name no row are kept and quoted, never dropped.
    assert done.unmatched == ["a bare string error", {"weird": [1, 2, 3]}]
    assert "a bare string error" in msgs[4][1]


def test_unknown_action_words_are_kept_and_removal_synonyms_mapped() -> None:
    batch = rows(3)
    success = [echo(batch[0], action="deleted"), echo(batch[1], action="merged"), echo(batch[2])]
    done = reconcile(batch, success, [], server_message=None, action="remove", at=AT)
    assert [r.status for r in done.results] == ["removed", "merged", "removed"]


def test_phone_suffix_match_when_the_server_drops_the_country_code() -> None:
    batch = [RowPlan(2, None, "15551234567", SEND), RowPlan(3, None, "15559876543", SEND)]
    done = reconcile(batch, [{"phone": "(555) 987-6543", "action": "created"}], [], server_message=None, action="upsert", at=AT)
    assert [r.status for r in done.results] == ["not processed", "created"]


def test_listed_in_both_lists_is_an_error_that_says_so() -> None:
    batch = rows(2)
    done = reconcile(batch, [echo(batch[0], action="created")], [echo(batch[0], message="partly failed")], server_message=None, action="upsert", at=AT)
    assert done.results[0].status == "error"
    assert "partly failed" in done.results[0].message and "created" in done.results[0].message


def test_describe_item_clips_long_text() -> None:
    assert len(describe_item({"error": "x" * 5000})) <= 300


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=12),
    picks=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["success", "error", "skip"])), max_size=20),
    junk=st.lists(json_values, max_size=4),
    seed=st.integers(0, 1000),
)
def test_every_row_gets_exactly_one_result_and_no_item_is_lost(n: int, picks: list[tuple[int, str]], junk: list[Any], seed: int) -> None:
    batch = rows(n)
    success: list[Any] = []
    errors: list[Any] = []
    for index, kind in picks:
        if index >= n or kind == "skip":
            continue
        (success if kind == "success" else errors).append(echo(batch[index], action="created", error="no"))
    success_all = success + junk[: len(junk) // 2]
    errors_all = errors + junk[len(junk) // 2 :]
    random.Random(seed).shuffle(success_all)
    random.Random(seed).shuffle(errors_all)
    done = reconcile(batch, success_all, errors_all, server_message="m", action="upsert", at=AT)
    assert [r.number for r in done.results] == [r.number for r in batch]
    mentioned = {batch[i].number for i, kind in picks if i < n and kind != "skip"}
    for result in done.results:
        if result.number in mentioned:
            assert result.status in {"created", "error"}
        else:
            assert result.status in {"not processed", "created", "error"}  # junk may carry a matching email
    matched_items = len(success_all) + len(errors_all) - len(done.unmatched)
    assert matched_items >= len(success) + len(errors)
    for item in done.unmatched:
        assert item in junk
