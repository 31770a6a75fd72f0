"""What `status` says about the last pass's read of the shop's order list."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from connector.ops.status import READ_INCOMPLETE, collect, render
from connector.state import Store


def shown(store: Store) -> str:
    console = Console(record=True, width=400)
    render(collect(store), console)
    return console.export_text()


def test_a_pass_that_left_the_order_list_half_read_says_so_until_one_reads_it_whole(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state.db")
    try:
        assert "did not read the shop's whole order list" not in shown(store)
        # As the engine records a pass whose read stopped short (the shop's Poll.incomplete).
        why = "the shop's order list kept moving while it was read: 4 times in a row it got no further"
        store.set_meta(READ_INCOMPLETE, why)
        assert collect(store)["read_incomplete"] == why  # `status --json` too
        text = shown(store)
        assert f"The last pass did not read the shop's whole order list: {why}." in text
        assert "The next pass carries on from where it stopped" in text
        store.set_meta(READ_INCOMPLETE, "")  # a later pass read it to the end
        assert collect(store)["read_incomplete"] is None
        assert "did not read the shop's whole order list" not in shown(store)
    finally:
        store.close()
